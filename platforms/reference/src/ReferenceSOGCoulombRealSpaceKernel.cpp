#include "ReferenceSOGCoulombRealSpaceKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>
#include <map>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

ReferencePlatform::PlatformData& ReferenceCalcSOGCoulombRealSpaceForceKernel::getPlatformData(ContextImpl& context) {
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
    if (!settings->useSwitchingFunction || r <= settings->switchingDistance)
        return;
    double width = settings->cutoff - settings->switchingDistance, t = (r - settings->switchingDistance)/width;
    value = 1.0 + t*t*t*(-10.0 + t*(15.0 - 6.0*t));
    derivative = t*t*(-30.0 + t*(60.0 - 30.0*t))/width;
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::initialize(const System& system, const SOGCoulombRealSpaceForce& force) {
    settings.reset(new SOGComplementSettings(force));
    params.reset(new SOGComplementParameters(system, force, *settings));
    function.reset(new SOGComplementFunction(force));
    computeDerivative = (force.getNumEnergyParameterDerivatives() > 0);
    exclusions.assign(settings->numParticles, set<int>());
    for (const pair<int, int>& exception : settings->exceptionPairs) {
        exclusions[exception.first].insert(exception.second);
        exclusions[exception.second].insert(exception.first);
    }
}

double ReferenceCalcSOGCoulombRealSpaceForceKernel::calcPairSum(ContextImpl& context, const vector<double>& scaledCharges,
        const vector<double>& derivativeCharges, bool includeForces, bool includeEnergy, double& derivative) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const vector<Vec3>& positions = *data.positions;
    vector<Vec3>& forces = *data.forces;
    const Vec3* box = data.periodicBoxVectors;
    const double cutoff2 = settings->cutoff*settings->cutoff;
    double energy = 0.0;
    for (int i = 0; i < settings->numParticles; i++)
        for (int j = i + 1; j < settings->numParticles; j++) {
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
            if (params->hasLennardJones) {
                // Lorentz-Berthelot mixing, then the switching function: -d(S E)/dr / r = S F/r - E S'/r.
                double ljEnergy, ljForceOverR, switchValue, switchDerivative;
                lennardJones(r2, 0.5*(params->sigmas[i] + params->sigmas[j]), sqrt(params->epsilons[i]*params->epsilons[j]), ljEnergy, ljForceOverR);
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
    SOGCoulombRealSpaceForceImpl::checkCutoffFitsBox(box, settings->cutoff);
    double lambda = settings->chargeScaleName.empty() ? 1.0 : context.getParameter(settings->chargeScaleName);
    if (!isfinite(lambda))
        throw OpenMMException("SOGCoulombRealSpaceForce: the charge scale parameter '" + settings->chargeScaleName + "' is not finite");
    vector<double> scaledCharges(settings->numParticles), derivativeCharges(settings->numParticles);
    vector<double> factors(settings->numParticles);
    for (int i = 0; i < settings->numParticles; i++) {
        factors[i] = params->isScaled[i] ? lambda : 1.0;
        scaledCharges[i] = factors[i]*params->charges[i];
        derivativeCharges[i] = params->isScaled[i] ? params->charges[i] : 0.0;
    }
    double derivative = 0.0;
    double energy = calcPairSum(context, scaledCharges, derivativeCharges, includeForces, includeEnergy, derivative);
    energy += calcExceptions(context, factors, includeForces, derivative);
    if (params->dispersionCoefficient != 0.0)
        energy += params->dispersionCoefficient/(box[0][0]*box[1][1]*box[2][2]);
    if (computeDerivative)
        (*data.energyParameterDerivatives)[settings->chargeScaleName] += derivative;
    return energy;
}

double ReferenceCalcSOGCoulombRealSpaceForceKernel::exceptionTerms(int e, const vector<Vec3>& positions, const Vec3* box,
        const vector<double>& factors, double& derivative, Vec3& force) const {
    const int i = settings->exceptionPairs[e].first, j = settings->exceptionPairs[e].second;
    Vec3 d = minimumImage(positions[i], positions[j], box);
    double r2 = d.dot(d), r = sqrt(r2), g, dgdr2;
    function->evaluateLongRange(r2, g, dgdr2);
    double pairEnergy = params->exceptionChargeProds[e]*function->prefactor/r - params->charges[i]*params->charges[j]*g;
    double fifj = factors[i]*factors[j];
    double energy = fifj*pairEnergy;
    if (computeDerivative)
        derivative += (params->isScaled[i]*factors[j] + factors[i]*params->isScaled[j])*pairEnergy;
    double forceOverR = fifj*(params->exceptionChargeProds[e]*function->prefactor/(r*r2) + 2.0*params->charges[i]*params->charges[j]*dgdr2);
    if (params->exceptionEpsilons[e] != 0.0) {
        // The exception's own Lennard-Jones, unscaled and unswitched at any distance.
        double ljEnergy, ljForceOverR;
        lennardJones(r2, params->exceptionSigmas[e], params->exceptionEpsilons[e], ljEnergy, ljForceOverR);
        energy += ljEnergy;
        forceOverR += ljForceOverR;
    }
    force = d*forceOverR;
    return energy;
}

double ReferenceCalcSOGCoulombRealSpaceForceKernel::calcExceptions(ContextImpl& context, const vector<double>& factors,
        bool includeForces, double& derivative) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const vector<Vec3>& positions = *data.positions;
    vector<Vec3>& forces = *data.forces;
    double energy = 0.0;
    for (int e = 0; e < (int) settings->exceptionPairs.size(); e++) {
        Vec3 force;
        energy += exceptionTerms(e, positions, data.periodicBoxVectors, factors, derivative, force);
        if (includeForces) {
            forces[settings->exceptionPairs[e].first] += force;
            forces[settings->exceptionPairs[e].second] -= force;
        }
    }
    return energy;
}

void ReferenceCalcSOGCoulombRealSpaceForceKernel::copyParametersToContext(ContextImpl& context, const SOGCoulombRealSpaceForce& force) {
    settings->checkUpdate(force);
    params.reset(new SOGComplementParameters(context.getSystem(), force, *settings));
}
