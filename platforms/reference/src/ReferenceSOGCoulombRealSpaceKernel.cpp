#include "ReferenceSOGCoulombRealSpaceKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>
#include <map>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static ReferencePlatform::PlatformData& getPlatformData(ContextImpl& context) {
    return *reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
}

Vec3 ReferenceCalcSOGCoulombRealSpaceForceKernel::minimumImage(const Vec3& r1, const Vec3& r2, const Vec3* box) {
    // Reduced box vectors (a along x, b in the xy plane): remove c, then b, then a.
    Vec3 d = r1 - r2;
    d -= box[2]*round(d[2]/box[2][2]);
    d -= box[1]*round(d[1]/box[1][1]);
    d -= box[0]*round(d[0]/box[0][0]);
    return d;
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::lennardJones(double r2, double sigma, double epsilon, double& energy,
        double& forceOverR) {
    double s2 = sigma*sigma/r2, s6 = s2*s2*s2;
    energy = 4.0*epsilon*(s6*s6 - s6);
    forceOverR = 4.0*epsilon*(12.0*s6*s6 - 6.0*s6)/r2;
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::switchingFunction(double r, double& value, double& derivative) const {
    value = 1.0;
    derivative = 0.0;
    if (!useSwitchingFunction || r <= switchingDistance)
        return;
    double width = cutoff - switchingDistance, t = (r - switchingDistance)/width;
    value = 1.0 + t*t*t*(-10.0 + t*(15.0 - 6.0*t));
    derivative = t*t*(-30.0 + t*(60.0 - 30.0*t))/width;
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::initialize(const System& system, const SOGCoulombRealSpaceForce& force) {
    numParticles = force.getNumParticles();
    cutoff = force.getCutoffDistance();
    useSwitchingFunction = force.getUseSwitchingFunction();
    switchingDistance = force.getSwitchingDistance();
    useDispersionCorrection = force.getUseDispersionCorrection();
    function.reset(new SOGComplementFunction(force));
    chargeScaleName = force.getChargeScaleParameterName();
    computeDerivative = (force.getNumEnergyParameterDerivatives() > 0);
    exclusions.assign(numParticles, set<int>());
    exceptionPairs.clear();
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        exceptionPairs.push_back(make_pair(p1, p2));
        exclusions[p1].insert(p2);
        exclusions[p2].insert(p1);
    }
    setParameters(system, force);
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::setParameters(const System& system, const SOGCoulombRealSpaceForce& force) {
    charges.resize(numParticles);
    isScaled.resize(numParticles);
    sigmas.resize(numParticles);
    epsilons.resize(numParticles);
    hasLennardJones = false;
    for (int i = 0; i < numParticles; i++) {
        bool scaled;
        force.getParticleParameters(i, charges[i], scaled);
        // Without a scale parameter every f_i is 1.
        isScaled[i] = (scaled && !chargeScaleName.empty()) ? 1 : 0;
        force.getParticleLennardJonesParameters(i, sigmas[i], epsilons[i]);
        hasLennardJones = hasLennardJones || epsilons[i] != 0.0;
    }
    exceptionChargeProds.resize(exceptionPairs.size());
    exceptionSigmas.resize(exceptionPairs.size());
    exceptionEpsilons.resize(exceptionPairs.size());
    for (int e = 0; e < (int) exceptionPairs.size(); e++) {
        int p1, p2;
        force.getExceptionParameters(e, p1, p2, exceptionChargeProds[e]);
        force.getExceptionLennardJonesParameters(e, exceptionSigmas[e], exceptionEpsilons[e]);
    }
    dispersionCoefficient = SOGCoulombRealSpaceForceImpl::calcDispersionCoefficient(force, system);
}

double ReferenceCalcSOGCoulombRealSpaceForceKernel::calcPairSum(ContextImpl& context, const vector<double>& scaledCharges,
        const vector<double>& derivativeCharges, bool includeForces, bool includeEnergy, double& derivative) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const vector<Vec3>& positions = *data.positions;
    vector<Vec3>& forces = *data.forces;
    const Vec3* box = data.periodicBoxVectors;
    const double cutoff2 = cutoff*cutoff;
    double energy = 0.0;
    for (int i = 0; i < numParticles; i++)
        for (int j = i + 1; j < numParticles; j++) {
            Vec3 d = minimumImage(positions[i], positions[j], box);
            double r2 = d.dot(d);
            if (r2 >= cutoff2 || exclusions[i].count(j) != 0)
                continue;
            double r = sqrt(r2), g, dgdr2;
            function->evaluateLongRange(r2, g, dgdr2);
            double phi = function->prefactor/r - g;
            double qq = scaledCharges[i]*scaledCharges[j];
            energy += qq*phi;
            if (computeDerivative)
                derivative += (derivativeCharges[i]*scaledCharges[j] + scaledCharges[i]*derivativeCharges[j])*phi;
            // -dphi/dr / r = A/r^3 + 2 dg/d(r^2)
            double forceOverR = qq*(function->prefactor/(r*r2) + 2.0*dgdr2);
            if (hasLennardJones) {
                // Lorentz-Berthelot mixing, then the switching function: -d(S E)/dr / r = S F/r - E S'/r.
                double ljEnergy, ljForceOverR, switchValue, switchDerivative;
                lennardJones(r2, 0.5*(sigmas[i] + sigmas[j]), sqrt(epsilons[i]*epsilons[j]), ljEnergy, ljForceOverR);
                switchingFunction(r, switchValue, switchDerivative);
                energy += switchValue*ljEnergy;
                forceOverR += switchValue*ljForceOverR - ljEnergy*switchDerivative/r;
            }
            if (includeForces) {
                Vec3 f = d*forceOverR;
                forces[i] += f;
                forces[j] -= f;
            }
        }
    return energy;
}

double ReferenceCalcSOGCoulombRealSpaceForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const Vec3* box = data.periodicBoxVectors;
    SOGCoulombRealSpaceForceImpl::checkCutoffFitsBox(box, cutoff);
    double lambda = chargeScaleName.empty() ? 1.0 : context.getParameter(chargeScaleName);
    if (!isfinite(lambda))
        throw OpenMMException("SOGCoulombRealSpaceForce: the charge scale parameter '" + chargeScaleName + "' is not finite");
    vector<double> scaledCharges(numParticles), derivativeCharges(numParticles);
    vector<double> factors(numParticles);
    for (int i = 0; i < numParticles; i++) {
        factors[i] = isScaled[i] ? lambda : 1.0;
        scaledCharges[i] = factors[i]*charges[i];
        derivativeCharges[i] = isScaled[i] ? charges[i] : 0.0;
    }
    double derivative = 0.0;
    double energy = calcPairSum(context, scaledCharges, derivativeCharges, includeForces, includeEnergy, derivative);

    // Exceptions, in double precision on every platform: f_i f_j [p A/r - q_i q_j g(r)].
    const vector<Vec3>& positions = *data.positions;
    vector<Vec3>& forces = *data.forces;
    for (int e = 0; e < (int) exceptionPairs.size(); e++) {
        int i = exceptionPairs[e].first, j = exceptionPairs[e].second;
        Vec3 d = minimumImage(positions[i], positions[j], box);
        double r2 = d.dot(d), r = sqrt(r2), g, dgdr2;
        function->evaluateLongRange(r2, g, dgdr2);
        double pairEnergy = exceptionChargeProds[e]*function->prefactor/r - charges[i]*charges[j]*g;
        double fifj = factors[i]*factors[j];
        energy += fifj*pairEnergy;
        if (computeDerivative)
            derivative += (isScaled[i]*factors[j] + factors[i]*isScaled[j])*pairEnergy;
        double forceOverR = fifj*(exceptionChargeProds[e]*function->prefactor/(r*r2) + 2.0*charges[i]*charges[j]*dgdr2);
        if (exceptionEpsilons[e] != 0.0) {
            // The exception's own Lennard-Jones, unscaled and unswitched at any distance.
            double ljEnergy, ljForceOverR;
            lennardJones(r2, exceptionSigmas[e], exceptionEpsilons[e], ljEnergy, ljForceOverR);
            energy += ljEnergy;
            forceOverR += ljForceOverR;
        }
        if (includeForces) {
            Vec3 f = d*forceOverR;
            forces[i] += f;
            forces[j] -= f;
        }
    }
    if (dispersionCoefficient != 0.0)
        energy += dispersionCoefficient/(box[0][0]*box[1][1]*box[2][2]);
    if (computeDerivative)
        (*data.energyParameterDerivatives)[chargeScaleName] += derivative;
    return energy;
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::copyParametersToContext(ContextImpl& context, const SOGCoulombRealSpaceForce& force) {
    SOGCoulombRealSpaceForceImpl::validateParameterUpdate(force, numParticles, exceptionPairs);
    // The dispersion coefficient is recomputed from these, so they must be the kernel's.
    if (force.getCutoffDistance() != cutoff || force.getUseSwitchingFunction() != useSwitchingFunction ||
            (useSwitchingFunction && force.getSwitchingDistance() != switchingDistance) ||
            force.getUseDispersionCorrection() != useDispersionCorrection)
        throw OpenMMException("SOGCoulombRealSpaceForce: updateParametersInContext() cannot change the cutoff, the switching "
                "function or the dispersion correction; use Context.reinitialize()");
    setParameters(context.getSystem(), force);
}
