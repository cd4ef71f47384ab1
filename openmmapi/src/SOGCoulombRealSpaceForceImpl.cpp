#include "internal/SOGCoulombRealSpaceForceImpl.h"
#include "SOGKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/NonbondedForce.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/NonbondedForceImpl.h"
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static const string prefix = "SOGCoulombRealSpaceForce: ";

SOGComplementFunction::SOGComplementFunction(const SOGCoulombRealSpaceForce& force) :
        prefactor(force.getCoulombPrefactor()), polynomial(force.getPolynomialCoefficients()) {
    for (int l = 0; l < force.getNumGaussians(); l++) {
        double weight, width;
        force.getGaussianParameters(l, weight, width);
        weights.push_back(weight);
        inverseWidths2.push_back(1.0/(width*width));
    }
}

void SOGComplementFunction::evaluateLongRange(double r2, double& g, double& dgdr2) const {
    g = 0.0;
    dgdr2 = 0.0;
    for (size_t l = 0; l < weights.size(); l++) {
        double term = weights[l]*exp(-inverseWidths2[l]*r2);
        g += term;
        dgdr2 -= inverseWidths2[l]*term;
    }
    // Horner in r^2 for the value and its derivative.
    double p = 0.0, dp = 0.0;
    for (int k = (int) polynomial.size() - 1; k >= 0; k--) {
        dp = dp*r2 + p;
        p = p*r2 + polynomial[k];
    }
    g += p;
    dgdr2 += dp;
}

SOGComplementSettings::SOGComplementSettings(const SOGCoulombRealSpaceForce& force) :
        numParticles(force.getNumParticles()), cutoff(force.getCutoffDistance()),
        useSwitchingFunction(force.getUseSwitchingFunction()), switchingDistance(force.getSwitchingDistance()),
        useDispersionCorrection(force.getUseDispersionCorrection()), chargeScaleName(force.getChargeScaleParameterName()) {
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        exceptionPairs.push_back(make_pair(p1, p2));
    }
}

void SOGComplementSettings::checkUpdate(const SOGCoulombRealSpaceForce& force) const {
    SOGCoulombRealSpaceForceImpl::validateParameterUpdate(force, numParticles, exceptionPairs);
    // The dispersion coefficient is recomputed from the parameters, so these must be the kernel's.
    if (force.getCutoffDistance() != cutoff || force.getUseSwitchingFunction() != useSwitchingFunction ||
            (useSwitchingFunction && force.getSwitchingDistance() != switchingDistance) ||
            force.getUseDispersionCorrection() != useDispersionCorrection)
        throw OpenMMException("SOGCoulombRealSpaceForce: updateParametersInContext() cannot change the cutoff, the switching "
                "function or the dispersion correction; use Context.reinitialize()");
}

SOGComplementParameters::SOGComplementParameters(const System& system, const SOGCoulombRealSpaceForce& force,
        const SOGComplementSettings& settings) : hasLennardJones(false) {
    const int numParticles = settings.numParticles, numExceptions = settings.exceptionPairs.size();
    charges.resize(numParticles);
    isScaled.resize(numParticles);
    sigmas.resize(numParticles);
    epsilons.resize(numParticles);
    for (int i = 0; i < numParticles; i++) {
        bool scaled;
        force.getParticleParameters(i, charges[i], scaled);
        // Without a scale parameter every f_i is 1.
        isScaled[i] = (scaled && !settings.chargeScaleName.empty()) ? 1 : 0;
        force.getParticleLennardJonesParameters(i, sigmas[i], epsilons[i]);
        hasLennardJones = hasLennardJones || epsilons[i] != 0.0;
    }
    exceptionChargeProds.resize(numExceptions);
    exceptionSigmas.resize(numExceptions);
    exceptionEpsilons.resize(numExceptions);
    for (int e = 0; e < numExceptions; e++) {
        int p1, p2;
        force.getExceptionParameters(e, p1, p2, exceptionChargeProds[e]);
        force.getExceptionLennardJonesParameters(e, exceptionSigmas[e], exceptionEpsilons[e]);
    }
    dispersionCoefficient = SOGCoulombRealSpaceForceImpl::calcDispersionCoefficient(force, system);
}

SOGCoulombRealSpaceForceImpl::SOGCoulombRealSpaceForceImpl(const SOGCoulombRealSpaceForce& owner) : owner(owner) {
}

static double smallestPlaneSpacing(const Vec3* box) {
    // The distance between the faces spanned by two vectors is the volume over their face's area.
    double volume = fabs(box[0].dot(box[1].cross(box[2])));
    double spacing = INFINITY;
    for (int d = 0; d < 3; d++) {
        Vec3 face = box[(d + 1) % 3].cross(box[(d + 2) % 3]);
        spacing = min(spacing, volume/sqrt(face.dot(face)));
    }
    return spacing;
}

void SOGCoulombRealSpaceForceImpl::checkCutoffFitsBox(const Vec3* box, double cutoff) {
    double spacing = smallestPlaneSpacing(box);
    if (!(2.0*cutoff <= spacing)) {
        stringstream message;
        message << prefix << "the cutoff " << cutoff << " nm exceeds half the periodic box (smallest distance between "
                "opposite faces " << spacing << " nm); use a larger box or a smaller cutoff";
        throw OpenMMException(message.str());
    }
}

static void checkLennardJones(double sigma, double epsilon, const string& what) {
    if (!(sigma >= 0.0) || !isfinite(sigma) || !(epsilon >= 0.0) || !isfinite(epsilon)) {
        stringstream message;
        message << prefix << what << " has invalid Lennard-Jones parameters (sigma " << sigma << " nm, epsilon " << epsilon <<
                " kJ/mol): both must be finite and >= 0";
        throw OpenMMException(message.str());
    }
}

/**
 * The checks of the per-particle and per-exception parameters, which updateParametersInContext()
 * may change.
 */
static void validateParameters(const SOGCoulombRealSpaceForce& force) {
    for (int i = 0; i < force.getNumParticles(); i++) {
        double charge, sigma, epsilon;
        bool scaled;
        force.getParticleParameters(i, charge, scaled);
        if (!isfinite(charge))
            throw OpenMMException(prefix + "particle " + to_string(i) + " has a non-finite charge");
        force.getParticleLennardJonesParameters(i, sigma, epsilon);
        checkLennardJones(sigma, epsilon, "particle " + to_string(i));
    }
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd, sigma, epsilon;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        if (!isfinite(chargeProd))
            throw OpenMMException(prefix + "exception " + to_string(e) + " has a non-finite charge product");
        force.getExceptionLennardJonesParameters(e, sigma, epsilon);
        checkLennardJones(sigma, epsilon, "exception " + to_string(e));
    }
}

double SOGCoulombRealSpaceForceImpl::calcDispersionCoefficient(const SOGCoulombRealSpaceForce& force, const System& system) {
    if (!force.getUseDispersionCorrection())
        return 0.0;
    // NonbondedForce's own coefficient for the same particles, cutoff and switching function, so
    // that the correction is exactly the one a NonbondedForce would add.
    NonbondedForce nonbonded;
    nonbonded.setNonbondedMethod(NonbondedForce::CutoffPeriodic);
    nonbonded.setCutoffDistance(force.getCutoffDistance());
    nonbonded.setUseSwitchingFunction(force.getUseSwitchingFunction());
    if (force.getUseSwitchingFunction())
        nonbonded.setSwitchingDistance(force.getSwitchingDistance());
    nonbonded.setUseDispersionCorrection(true);
    for (int i = 0; i < force.getNumParticles(); i++) {
        double sigma, epsilon;
        force.getParticleLennardJonesParameters(i, sigma, epsilon);
        nonbonded.addParticle(0.0, sigma, epsilon);
    }
    return NonbondedForceImpl::calcDispersionCorrection(system, nonbonded);
}

void SOGCoulombRealSpaceForceImpl::validate(const SOGCoulombRealSpaceForce& force, const System& system) {
    int numParticles = force.getNumParticles();
    if (numParticles != system.getNumParticles())
        throw OpenMMException(prefix + "the force has " + to_string(numParticles) + " particles but the System has " +
                to_string(system.getNumParticles()));
    double cutoff = force.getCutoffDistance();
    if (!(cutoff > 0.0) || !isfinite(cutoff))
        throw OpenMMException(prefix + "the cutoff must be a finite number > 0 nm, got " + to_string(cutoff));
    if (!(force.getCoulombPrefactor() > 0.0) || !isfinite(force.getCoulombPrefactor()))
        throw OpenMMException(prefix + "the Coulomb prefactor must be finite and > 0 kJ/mol nm/e^2");
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    if (!(box[0][0]*box[1][1]*box[2][2] > 0.0))
        throw OpenMMException(prefix + "the System needs a periodic box with positive volume");
    checkCutoffFitsBox(box, cutoff);
    if (force.getUseSwitchingFunction()) {
        double switching = force.getSwitchingDistance();
        if (!(switching >= 0.0) || !(switching < cutoff)) {
            stringstream message;
            message << prefix << "the switching distance " << switching << " nm must satisfy 0 <= distance < cutoff (" <<
                    cutoff << " nm) when the switching function is used";
            throw OpenMMException(message.str());
        }
    }
    for (int l = 0; l < force.getNumGaussians(); l++) {
        double weight, width;
        force.getGaussianParameters(l, weight, width);
        if (!isfinite(weight) || !(width > 0.0) || !isfinite(width))
            throw OpenMMException(prefix + "Gaussian " + to_string(l) + " needs a finite weight and a finite width > 0 nm");
    }
    const vector<double>& polynomial = force.getPolynomialCoefficients();
    for (size_t k = 0; k < polynomial.size(); k++)
        if (!isfinite(polynomial[k]))
            throw OpenMMException(prefix + "polynomial coefficient " + to_string(k) + " is not finite");
    set<pair<int, int> > pairs;
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        if (p1 < 0 || p1 >= numParticles || p2 < 0 || p2 >= numParticles || p1 == p2)
            throw OpenMMException(prefix + "exception " + to_string(e) + " has invalid particles (" + to_string(p1) + ", " +
                    to_string(p2) + ") for " + to_string(numParticles) + " particles");
        if (!pairs.insert(make_pair(min(p1, p2), max(p1, p2))).second)
            throw OpenMMException(prefix + "exception " + to_string(e) + " repeats the pair (" + to_string(p1) + ", " +
                    to_string(p2) + ")");
    }
    validateParameters(force);
}

void SOGCoulombRealSpaceForceImpl::validateParameterUpdate(const SOGCoulombRealSpaceForce& force, int numParticles,
        const vector<pair<int, int> >& exceptionPairs) {
    if (force.getNumParticles() != numParticles)
        throw OpenMMException(prefix + "updateParametersInContext() cannot change the number of particles (" +
                to_string(numParticles) + " -> " + to_string(force.getNumParticles()) + "); use Context.reinitialize()");
    if (force.getNumExceptions() != (int) exceptionPairs.size())
        throw OpenMMException(prefix + "updateParametersInContext() cannot change the number of exceptions (" +
                to_string(exceptionPairs.size()) + " -> " + to_string(force.getNumExceptions()) + "); use Context.reinitialize()");
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        if (make_pair(p1, p2) != exceptionPairs[e])
            throw OpenMMException(prefix + "updateParametersInContext() cannot change the particles of exception " +
                    to_string(e) + "; use Context.reinitialize()");
    }
    validateParameters(force);
}

void SOGCoulombRealSpaceForceImpl::initialize(ContextImpl& context) {
    validate(owner, context.getSystem());
    kernel = context.getPlatform().createKernel(CalcSOGCoulombRealSpaceForceKernel::Name(), context);
    kernel.getAs<CalcSOGCoulombRealSpaceForceKernel>().initialize(context.getSystem(), owner);
}

double SOGCoulombRealSpaceForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0)
        return kernel.getAs<CalcSOGCoulombRealSpaceForceKernel>().execute(context, includeForces, includeEnergy);
    return 0.0;
}

map<string, double> SOGCoulombRealSpaceForceImpl::getDefaultParameters() {
    map<string, double> parameters;
    if (!owner.getChargeScaleParameterName().empty())
        parameters[owner.getChargeScaleParameterName()] = 1.0;
    return parameters;
}

vector<string> SOGCoulombRealSpaceForceImpl::getKernelNames() {
    return {CalcSOGCoulombRealSpaceForceKernel::Name()};
}

void SOGCoulombRealSpaceForceImpl::updateParametersInContext(ContextImpl& context) {
    kernel.getAs<CalcSOGCoulombRealSpaceForceKernel>().copyParametersToContext(context, owner);
    context.systemChanged();
}
