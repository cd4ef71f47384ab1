#include "SOGForce.h"
#include "internal/SOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/internal/ContextImpl.h"
#include <algorithm>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static void checkIndex(int index, size_t size, const char* what) {
    if (index < 0 || index >= (int) size)
        throw OpenMMException(string("SOGForce: ") + what + " index " + to_string(index) + " is out of range (the force has " +
                to_string(size) + ")");
}

static void checkChannel(int channel, int numChannels, const char* method) {
    if (channel < 0 || channel >= numChannels)
        throw OpenMMException(string("SOGForce: ") + method + "() got channel " + to_string(channel) +
                " but the force has " + to_string(numChannels) + " channels (0 to " + to_string(numChannels - 1) + ")");
}

SOGForce::SOGForce(int numChannels) : numChannels(numChannels), tolerance(1e-5), chargeScaleName("sog_lambda"),
        chargeScaleDefault(1.0) {
    if (numChannels < 1)
        throw OpenMMException("SOGForce: the number of channels must be at least 1");
    backgroundIntegrals.assign(numChannels, 0.0);
}

double SOGForce::getBackgroundIntegral(int channel) const {
    checkChannel(channel, numChannels, "getBackgroundIntegral");
    return backgroundIntegrals[channel];
}

void SOGForce::setBackgroundIntegral(double integral, int channel) {
    checkChannel(channel, numChannels, "setBackgroundIntegral");
    backgroundIntegrals[channel] = integral;
}

int SOGForce::addParticle(const vector<double>& particleCharges) {
    if ((int) particleCharges.size() != numChannels)
        throw OpenMMException("SOGForce: addParticle() got " + to_string(particleCharges.size()) +
                " charges but the force has " + to_string(numChannels) + " channels");
    charges.push_back(particleCharges);
    return charges.size() - 1;
}

void SOGForce::getParticleCharges(int index, vector<double>& particleCharges) const {
    checkIndex(index, charges.size(), "particle");
    particleCharges = charges[index];
}

void SOGForce::setParticleCharges(int index, const vector<double>& particleCharges) {
    checkIndex(index, charges.size(), "particle");
    if ((int) particleCharges.size() != numChannels)
        throw OpenMMException("SOGForce: setParticleCharges() got " + to_string(particleCharges.size()) +
                " charges but the force has " + to_string(numChannels) + " channels");
    charges[index] = particleCharges;
}

int SOGForce::addGaussian(double weight, double width, int channel) {
    gaussians.push_back(GaussianInfo{weight, width, channel});
    return gaussians.size() - 1;
}

void SOGForce::getGaussianParameters(int index, double& weight, double& width, int& channel) const {
    checkIndex(index, gaussians.size(), "Gaussian");
    weight = gaussians[index].weight;
    width = gaussians[index].width;
    channel = gaussians[index].channel;
}

void SOGForce::setGaussianParameters(int index, double weight, double width, int channel) {
    checkIndex(index, gaussians.size(), "Gaussian");
    gaussians[index] = GaussianInfo{weight, width, channel};
}

void SOGForce::setTolerance(double tol) {
    tolerance = tol;
}

void SOGForce::setChargeScaleParameterName(const string& name) {
    if (name.empty())
        throw OpenMMException("SOGForce: the charge scale parameter name must not be empty");
    for (string& derivative : energyParameterDerivatives)
        if (derivative == chargeScaleName)
            derivative = name;
    chargeScaleName = name;
}

void SOGForce::setChargeScaleDefaultValue(double value) {
    chargeScaleDefault = value;
}

void SOGForce::setScaledParticles(const vector<int>& particles) {
    scaledParticles = particles;
}

void SOGForce::addEnergyParameterDerivative(const string& name) {
    if (name != chargeScaleName)
        throw OpenMMException("SOGForce: cannot compute the derivative with respect to '" + name +
                "': the only parameter of this force is its charge scale parameter '" + chargeScaleName + "'");
    if (find(energyParameterDerivatives.begin(), energyParameterDerivatives.end(), name) == energyParameterDerivatives.end())
        energyParameterDerivatives.push_back(name);
}

const string& SOGForce::getEnergyParameterDerivativeName(int index) const {
    checkIndex(index, energyParameterDerivatives.size(), "energy parameter derivative");
    return energyParameterDerivatives[index];
}

void SOGForce::updateParametersInContext(Context& context) {
    dynamic_cast<SOGForceImpl&>(getImplInContext(context)).updateParametersInContext(getContextImpl(context));
}

void SOGForce::getGridParametersInContext(const Context& context, double& kCutoff, int& spreadWidth, int& nx, int& ny,
        int& nz) const {
    int gridSize[3];
    dynamic_cast<const SOGForceImpl&>(getImplInContext(context)).getGridParameters(kCutoff, spreadWidth, gridSize);
    nx = gridSize[0];
    ny = gridSize[1];
    nz = gridSize[2];
}

ForceImpl* SOGForce::createImpl() const {
    return new SOGForceImpl(*this);
}
