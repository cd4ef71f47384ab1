#include "CommonSOGCoulombRealSpaceKernel.h"
#include "CommonSOGKernelSources.h"
#include "internal/SOGCoulombRealSpaceForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/common/BondedUtilities.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ComputeVectorTypes.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/common/NonbondedUtilities.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>
#include <map>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

/*
 * Tells OpenMM which particles it may exchange when it reorders atoms (same charge, scaling and
 * Lennard-Jones parameters) and that the exception pairs bind particles into molecules.
 */
class CommonCalcSOGCoulombRealSpaceForceKernel::ForceInfo : public ComputeForceInfo {
public:
    ForceInfo(const SOGCoulombRealSpaceForce& force) : force(force) {
    }
    bool areParticlesIdentical(int particle1, int particle2) {
        double charge1, charge2, sigma1, sigma2, epsilon1, epsilon2;
        bool scaled1, scaled2;
        force.getParticleParameters(particle1, charge1, scaled1);
        force.getParticleParameters(particle2, charge2, scaled2);
        force.getParticleLennardJonesParameters(particle1, sigma1, epsilon1);
        force.getParticleLennardJonesParameters(particle2, sigma2, epsilon2);
        return charge1 == charge2 && scaled1 == scaled2 && sigma1 == sigma2 && epsilon1 == epsilon2;
    }
    int getNumParticleGroups() {
        return force.getNumExceptions();
    }
    void getParticlesInGroup(int index, vector<int>& particles) {
        int particle1, particle2;
        double chargeProd;
        force.getExceptionParameters(index, particle1, particle2, chargeProd);
        particles = {particle1, particle2};
    }
    bool areGroupsIdentical(int group1, int group2) {
        int particle1, particle2;
        double chargeProd1, chargeProd2, sigma1, sigma2, epsilon1, epsilon2;
        force.getExceptionParameters(group1, particle1, particle2, chargeProd1);
        force.getExceptionParameters(group2, particle1, particle2, chargeProd2);
        force.getExceptionLennardJonesParameters(group1, sigma1, epsilon1);
        force.getExceptionLennardJonesParameters(group2, sigma2, epsilon2);
        return chargeProd1 == chargeProd2 && sigma1 == sigma2 && epsilon1 == epsilon2;
    }
private:
    const SOGCoulombRealSpaceForce& force;
};

string CommonCalcSOGCoulombRealSpaceForceKernel::createLongRangeSource(const SOGCoulombRealSpaceForce& force) const {
    // As SOGComplementFunction::evaluateLongRange: the Gaussians, then Horner in r^2 for the
    // polynomial and its derivative.
    SOGComplementFunction function(force);
    stringstream source;
    for (size_t l = 0; l < function.weights.size(); l++) {
        string a = cc.doubleToString(function.inverseWidths2[l]);
        source << "{ const real sogTerm = " << cc.doubleToString(function.weights[l]) << "*EXP(-" << a << "*r2); sogG += sogTerm; sogDG -= "
               << a << "*sogTerm; }\n";
    }
    if (!function.polynomial.empty()) {
        source << "{ real sogP = 0, sogDP = 0;\n";
        for (int k = (int) function.polynomial.size() - 1; k >= 0; k--)
            source << "sogDP = sogDP*r2 + sogP; sogP = sogP*r2 + " << cc.doubleToString(function.polynomial[k]) << ";\n";
        source << "sogG += sogP; sogDG += sogDP; }\n";
    }
    return source.str();
}

void CommonCalcSOGCoulombRealSpaceForceKernel::initialize(const System& system, const SOGCoulombRealSpaceForce& force) {
    ContextSelector selector(cc);
    if (cc.getNumContexts() != 1)
        throw OpenMMException("SOGCoulombRealSpaceForce: the OpenCL and CUDA kernels support one device per Context");
    int forceIndex;
    for (forceIndex = 0; forceIndex < system.getNumForces() && &system.getForce(forceIndex) != &force; forceIndex++)
        ;
    const string prefix = "sog" + cc.intToString(forceIndex) + "_";
    settings.reset(new SOGComplementSettings(force));
    computeDerivative = (force.getNumEnergyParameterDerivatives() > 0 && !settings->chargeScaleName.empty());
    vector<vector<int> > exclusionList(settings->numParticles);
    for (int i = 0; i < settings->numParticles; i++)
        exclusionList[i].push_back(i);
    for (const pair<int, int>& exception : settings->exceptionPairs) {
        exclusionList[exception.first].push_back(exception.second);
        exclusionList[exception.second].push_back(exception.first);
    }
    setParameters(system, force);

    const bool useDouble = cc.getUseDoublePrecision();
    const int elementSize = (useDouble ? sizeof(double) : sizeof(float));
    particleParams.initialize(cc, cc.getPaddedNumAtoms(), 4*elementSize, "sogComplementParticleParams");
    const string longRange = createLongRangeSource(force);
    const string prefactor = cc.doubleToString(force.getCoulombPrefactor());

    // The pair term in the shared nonbonded kernel.
    map<string, string> replacements;
    replacements["PARAMS1"] = prefix + "params1";
    replacements["PARAMS2"] = prefix + "params2";
    replacements["PREFACTOR"] = prefactor;
    replacements["LONG_RANGE"] = longRange;
    replacements["HAS_DERIVATIVE"] = (computeDerivative ? "1" : "0");
    if (computeDerivative)
        replacements["DERIVATIVE"] = cc.getNonbondedUtilities().addEnergyParameterDerivative(settings->chargeScaleName);
    replacements["USE_SWITCH"] = (settings->useSwitchingFunction ? "1" : "0");
    if (settings->useSwitchingFunction) {
        replacements["SWITCH_DISTANCE"] = cc.doubleToString(settings->switchingDistance);
        replacements["SWITCH_INV_WIDTH"] = cc.doubleToString(1.0/(settings->cutoff - settings->switchingDistance));
    }
    string pairSource = cc.replaceStrings(CommonSOGKernelSources::sogComplementPair, replacements);
    cc.getNonbondedUtilities().addInteraction(true, true, true, settings->cutoff, exclusionList, pairSource, force.getForceGroup(),
            settings->numParticles > 3000, false);
    cc.getNonbondedUtilities().addParameter(ComputeParameterInfo(particleParams, prefix + "params", "real", 4));

    // The exceptions as bonded terms.
    const int numExceptions = settings->exceptionPairs.size();
    if (numExceptions > 0) {
        exceptionParams.initialize(cc, numExceptions, 4*elementSize, "sogComplementExceptionParams");
        vector<vector<int> > atoms(numExceptions);
        for (int e = 0; e < numExceptions; e++)
            atoms[e] = {settings->exceptionPairs[e].first, settings->exceptionPairs[e].second};
        map<string, string> replacements;
        replacements["PARAMS"] = cc.getBondedUtilities().addArgument(exceptionParams, "real4");
        replacements["PREFACTOR"] = prefactor;
        replacements["LONG_RANGE"] = longRange;
        replacements["HAS_DERIVATIVE"] = (computeDerivative ? "1" : "0");
        if (computeDerivative) {
            exceptionDerivParams.initialize(cc, numExceptions, 2*elementSize, "sogComplementExceptionDerivParams");
            replacements["DERIV_PARAMS"] = cc.getBondedUtilities().addArgument(exceptionDerivParams, "real2");
            replacements["DERIVATIVE"] = cc.getBondedUtilities().addEnergyParameterDerivative(settings->chargeScaleName);
        }
        cc.getBondedUtilities().addInteraction(atoms, cc.replaceStrings(CommonSOGKernelSources::sogComplementException,
                replacements), force.getForceGroup());
    }
    info = new ForceInfo(force);
    cc.addForce(info);
}

void CommonCalcSOGCoulombRealSpaceForceKernel::setParameters(const System& system, const SOGCoulombRealSpaceForce& force) {
    params.reset(new SOGComplementParameters(system, force, *settings));
    parametersValid = false;
}

void CommonCalcSOGCoulombRealSpaceForceKernel::uploadParameters(double lambda) {
    vector<double> factors(settings->numParticles);
    vector<mm_double4> particles(cc.getPaddedNumAtoms(), mm_double4(0, 0, 0, 0));
    for (int i = 0; i < settings->numParticles; i++) {
        factors[i] = params->isScaled[i] ? lambda : 1.0;
        particles[i] = mm_double4(factors[i]*params->charges[i], params->isScaled[i] ? params->charges[i] : 0.0, 0.5*params->sigmas[i], 2.0*sqrt(params->epsilons[i]));
    }
    particleParams.upload(particles, true);
    const int numExceptions = settings->exceptionPairs.size();
    if (numExceptions > 0) {
        vector<mm_double4> exceptions(numExceptions);
        vector<mm_double2> derivs(numExceptions);
        for (int e = 0; e < numExceptions; e++) {
            const int i = settings->exceptionPairs[e].first, j = settings->exceptionPairs[e].second;
            const double fifj = factors[i]*factors[j], dfifj = params->isScaled[i]*factors[j] + factors[i]*params->isScaled[j];
            const double qq = params->charges[i]*params->charges[j];
            exceptions[e] = mm_double4(fifj*params->exceptionChargeProds[e], fifj*qq, params->exceptionSigmas[e], 4.0*params->exceptionEpsilons[e]);
            derivs[e] = mm_double2(dfifj*params->exceptionChargeProds[e], dfifj*qq);
        }
        exceptionParams.upload(exceptions, true);
        if (computeDerivative)
            exceptionDerivParams.upload(derivs, true);
    }
    uploadedLambda = lambda;
    parametersValid = true;
}

double CommonCalcSOGCoulombRealSpaceForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ContextSelector selector(cc);
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    SOGCoulombRealSpaceForceImpl::checkCutoffFitsBox(box, settings->cutoff);
    const double lambda = settings->chargeScaleName.empty() ? 1.0 : context.getParameter(settings->chargeScaleName);
    if (!isfinite(lambda))
        throw OpenMMException("SOGCoulombRealSpaceForce: the charge scale parameter '" + settings->chargeScaleName + "' is not finite");
    // The nonbonded and bonded kernels run after every force's execute(), with these parameters.
    if (!parametersValid || lambda != uploadedLambda)
        uploadParameters(lambda);
    if (params->dispersionCoefficient != 0.0)
        return params->dispersionCoefficient/(box[0][0]*box[1][1]*box[2][2]);
    return 0.0;
}

void CommonCalcSOGCoulombRealSpaceForceKernel::copyParametersToContext(ContextImpl& context, const SOGCoulombRealSpaceForce& force) {
    ContextSelector selector(cc);
    settings->checkUpdate(force);
    setParameters(context.getSystem(), force);
    cc.invalidateMolecules(info);
}
