#include "internal/TorchSOGForceImpl.h"
#include "TorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/CustomAngleForce.h"
#include "openmm/CustomBondForce.h"
#include "openmm/CustomCVForce.h"
#include "openmm/CustomCentroidBondForce.h"
#include "openmm/CustomCompoundBondForce.h"
#include "openmm/CustomExternalForce.h"
#include "openmm/CustomGBForce.h"
#include "openmm/CustomHbondForce.h"
#include "openmm/CustomManyParticleForce.h"
#include "openmm/CustomNonbondedForce.h"
#include "openmm/CustomTorsionForce.h"
#include "openmm/NonbondedForce.h"
#include "SOGForce.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>
#include <set>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

TorchSOGForceImpl::TorchSOGForceImpl(const TorchSOGForce& owner) : owner(owner) {
}

TorchSOGForceImpl::~TorchSOGForceImpl() {
}

void TorchSOGForceImpl::validate(const TorchSOGForce& force, const System& system) {
    const int numSystem = system.getNumParticles();
    const vector<int>& particles = force.getParticles();
    if (particles.empty()) {
        if (force.getNumParticles() != numSystem)
            throw OpenMMException("TorchSOGForce: the force has atomic numbers for " + to_string(force.getNumParticles()) +
                    " particles but the System has " + to_string(numSystem) + "; give one per particle, or list the "
                    "modelled particles with setParticles() (an ML region)");
    }
    else {
        if ((int) particles.size() != force.getNumParticles())
            throw OpenMMException("TorchSOGForce: setParticles() lists " + to_string(particles.size()) +
                    " particles but the force has " + to_string(force.getNumParticles()) +
                    " atomic numbers; give one atomic number per listed particle, in order");
        vector<bool> seen(numSystem, false);
        for (int i : particles) {
            if (i < 0 || i >= numSystem)
                throw OpenMMException("TorchSOGForce: particle index " + to_string(i) + " in setParticles() is out of "
                        "range for a System of " + to_string(numSystem) + " particles");
            if (seen[i])
                throw OpenMMException("TorchSOGForce: particle " + to_string(i) + " is listed more than once in "
                        "setParticles(); list each particle once");
            seen[i] = true;
        }
    }
    if (force.getNumParticles() == 0)
        throw OpenMMException("TorchSOGForce: the force models no particles");
    const vector<int>& numbers = force.getAtomicNumbers();
    for (int i = 0; i < (int) numbers.size(); i++)
        if (numbers[i] < 1 || numbers[i] > 118)
            throw OpenMMException("TorchSOGForce: particle " + to_string(i) + " has atomic number " +
                    to_string(numbers[i]) + ", which is not an element (1-118)");
    const vector<int>& species = force.getModelSpecies();
    if (!species.empty()) {
        set<int> known(species.begin(), species.end());
        for (int i = 0; i < (int) numbers.size(); i++)
            if (known.count(numbers[i]) == 0) {
                string list;
                for (int z : species)
                    list += (list.empty() ? "" : ", ") + to_string(z);
                throw OpenMMException("TorchSOGForce: particle " + to_string(particles.empty() ? i : particles[i]) +
                        " has atomic number " + to_string(numbers[i]) + ", which the model was not trained on (its "
                        "species: " + list + ")");
            }
    }
    if (force.usesPeriodicBoundaryConditions())
        SOGForceImpl::validatePeriodicSystem(system, "TorchSOGForce");
    else if (particles.empty() && system.usesPeriodicBoundaryConditions())
        throw OpenMMException("TorchSOGForce: the force is non-periodic (a model of free molecules or clusters) but "
                "the System is periodic; use a periodic model, or model an ML region of the System with setParticles()");
    SOGForceImpl::validateKernel(force, "TorchSOGForce");
    // The alchemical parameters.
    const string& chargeName = force.getChargeScaleParameterName();
    const string& energyName = force.getEnergyScaleParameterName();
    if (!chargeName.empty() && chargeName == energyName)
        throw OpenMMException("TorchSOGForce: the charge scale and the energy scale parameters are both named '" +
                chargeName + "'; give them different names");
    if (chargeName.empty() && !force.getChargeScaledParticles().empty())
        throw OpenMMException("TorchSOGForce: charge-scaled particles are listed but the force has no charge scale "
                "parameter; set one with setChargeScaleParameterName()");
    if (!isfinite(force.getChargeScaleDefaultValue()) || !isfinite(force.getEnergyScaleDefaultValue()))
        throw OpenMMException("TorchSOGForce: the default value of a scale parameter is not finite");
    vector<int> region = getRegion(force, numSystem);
    vector<int> position(numSystem, -1);
    for (int k = 0; k < (int) region.size(); k++)
        position[region[k]] = k;
    vector<bool> scaled(numSystem, false);
    for (int i : force.getChargeScaledParticles()) {
        if (i < 0 || i >= numSystem || position[i] < 0)
            throw OpenMMException("TorchSOGForce: charge-scaled particle " + to_string(i) + " is not one of the modelled "
                    "particles" + string(particles.empty() ? "" : " (setParticles())") + "; scale only particles the "
                    "model acts on");
        if (scaled[i])
            throw OpenMMException("TorchSOGForce: charge-scaled particle " + to_string(i) + " is listed more than once");
        scaled[i] = true;
    }
    checkParameterClashes(force, system);
    for (int k = 0; k < force.getNumEnergyParameterDerivatives(); k++) {
        const string& name = force.getEnergyParameterDerivativeName(k);
        if (name.empty() || (name != chargeName && name != energyName))
            throw OpenMMException("TorchSOGForce: a derivative with respect to '" + name + "' was requested, but the "
                    "force depends only on its charge scale parameter ('" + chargeName + "') and its energy scale "
                    "parameter ('" + energyName + "')");
    }
}

namespace {

template <class CustomForce>
bool addGlobalParameters(const Force& force, map<string, double>& parameters) {
    const CustomForce* custom = dynamic_cast<const CustomForce*>(&force);
    if (custom == nullptr)
        return false;
    for (int k = 0; k < custom->getNumGlobalParameters(); k++)
        parameters[custom->getGlobalParameterName(k)] = custom->getGlobalParameterDefaultValue(k);
    return true;
}

/**
 * The global parameters (name -> default value) a force of the System defines, for the forces
 * that can define them.
 */
map<string, double> findGlobalParameters(const Force& force) {
    map<string, double> parameters;
    addGlobalParameters<NonbondedForce>(force, parameters) || addGlobalParameters<CustomNonbondedForce>(force, parameters) ||
    addGlobalParameters<CustomBondForce>(force, parameters) || addGlobalParameters<CustomAngleForce>(force, parameters) ||
    addGlobalParameters<CustomTorsionForce>(force, parameters) || addGlobalParameters<CustomExternalForce>(force, parameters) ||
    addGlobalParameters<CustomCompoundBondForce>(force, parameters) ||
    addGlobalParameters<CustomCentroidBondForce>(force, parameters) ||
    addGlobalParameters<CustomManyParticleForce>(force, parameters) || addGlobalParameters<CustomHbondForce>(force, parameters) ||
    addGlobalParameters<CustomGBForce>(force, parameters) || addGlobalParameters<CustomCVForce>(force, parameters);
    if (const SOGForce* sog = dynamic_cast<const SOGForce*>(&force))
        parameters[sog->getChargeScaleParameterName()] = sog->getChargeScaleDefaultValue();
    if (const TorchSOGForce* torch = dynamic_cast<const TorchSOGForce*>(&force)) {
        if (!torch->getChargeScaleParameterName().empty())
            parameters[torch->getChargeScaleParameterName()] = torch->getChargeScaleDefaultValue();
        if (!torch->getEnergyScaleParameterName().empty())
            parameters[torch->getEnergyScaleParameterName()] = torch->getEnergyScaleDefaultValue();
    }
    return parameters;
}

} // namespace

void TorchSOGForceImpl::checkParameterClashes(const TorchSOGForce& force, const System& system) {
    const vector<pair<string, pair<string, double>>> ours = {
        {"charge scale", {force.getChargeScaleParameterName(), force.getChargeScaleDefaultValue()}},
        {"energy scale", {force.getEnergyScaleParameterName(), force.getEnergyScaleDefaultValue()}}};
    for (int i = 0; i < system.getNumForces(); i++) {
        const Force& other = system.getForce(i);
        if (&other == &force)
            continue;
        map<string, double> theirs = findGlobalParameters(other);
        for (const auto& [kind, parameter] : ours) {
            const auto& [name, value] = parameter;
            auto found = theirs.find(name);
            if (name.empty() || found == theirs.end() || found->second == value)
                continue;  // the same default value: one parameter, shared on purpose
            throw OpenMMException("TorchSOGForce: its " + kind + " parameter '" + name + "' (default " + to_string(value) +
                    ") is also a parameter of force " + to_string(i) + " ('" + other.getName() + "') with default " +
                    to_string(found->second) + "; rename one of them, or give both the same default to share it");
        }
    }
}

vector<int> TorchSOGForceImpl::getRegion(const TorchSOGForce& force, int numSystemParticles) {
    if (!force.getParticles().empty())
        return force.getParticles();
    vector<int> region(numSystemParticles);
    for (int i = 0; i < numSystemParticles; i++)
        region[i] = i;
    return region;
}

vector<bool> TorchSOGForceImpl::getChargeScaledMask(const TorchSOGForce& force, const vector<int>& region) {
    vector<bool> mask(region.size(), false);
    if (force.getChargeScaleParameterName().empty())
        return mask;
    const vector<int>& scaled = force.getChargeScaledParticles();
    if (scaled.empty())
        return vector<bool>(region.size(), true);
    set<int> scaledSet(scaled.begin(), scaled.end());
    for (int k = 0; k < (int) region.size(); k++)
        mask[k] = (scaledSet.count(region[k]) > 0);
    return mask;
}

vector<double> TorchSOGForceImpl::checkModelCharges(const vector<double>& charges, const vector<double>& weightSums) {
    const int numChannels = weightSums.size();
    vector<double> absCharge(numChannels, 0.0);
    for (int k = 0; k < (int) charges.size(); k++)
        absCharge[k % numChannels] += fabs(charges[k]);
    SOGForceImpl::checkChargeMagnitude("TorchSOGForce", absCharge, weightSums);
    return absCharge;
}

TorchSOGScaleParameters::TorchSOGScaleParameters(const TorchSOGForce& force) :
        chargeScaleName(force.getChargeScaleParameterName()), energyScaleName(force.getEnergyScaleParameterName()) {
    for (int k = 0; k < force.getNumEnergyParameterDerivatives(); k++) {
        hasChargeScaleDerivative |= (force.getEnergyParameterDerivativeName(k) == chargeScaleName);
        hasEnergyScaleDerivative |= (force.getEnergyParameterDerivativeName(k) == energyScaleName);
    }
}

void TorchSOGScaleParameters::read(ContextImpl& context, double& chargeScale, double& energyScale) const {
    auto valueOf = [&](const string& kind, const string& name) {
        const double value = (name.empty() ? 1.0 : context.getParameter(name));
        if (!isfinite(value))
            throw OpenMMException("TorchSOGForce: the " + kind + " parameter '" + name + "' is " + to_string(value) +
                    "; it must be finite (set it with Context.setParameter())");
        return value;
    };
    chargeScale = valueOf("charge scale", chargeScaleName);
    energyScale = valueOf("energy scale", energyScaleName);
}

void TorchSOGScaleParameters::addDerivatives(map<string, double>& derivatives, double chargeScaleDerivative,
        double unscaledEnergy) const {
    if (hasChargeScaleDerivative)
        derivatives[chargeScaleName] += chargeScaleDerivative;
    if (hasEnergyScaleDerivative)
        derivatives[energyScaleName] += unscaledEnergy;
}

map<string, double> TorchSOGForceImpl::getDefaultParameters() {
    map<string, double> parameters;
    if (!owner.getChargeScaleParameterName().empty())
        parameters[owner.getChargeScaleParameterName()] = owner.getChargeScaleDefaultValue();
    if (!owner.getEnergyScaleParameterName().empty())
        parameters[owner.getEnergyScaleParameterName()] = owner.getEnergyScaleDefaultValue();
    return parameters;
}

void TorchSOGForceImpl::initialize(ContextImpl& context) {
    validate(owner, context.getSystem());
    kernel = context.getPlatform().createKernel(CalcTorchSOGForceKernel::Name(), context);
    kernel.getAs<CalcTorchSOGForceKernel>().initialize(context.getSystem(), owner);
}

double TorchSOGForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0)
        return kernel.getAs<CalcTorchSOGForceKernel>().execute(context, includeForces, includeEnergy);
    return 0.0;
}

vector<string> TorchSOGForceImpl::getKernelNames() {
    return {CalcTorchSOGForceKernel::Name()};
}
