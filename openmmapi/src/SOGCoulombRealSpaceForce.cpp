#include "SOGCoulombRealSpaceForce.h"
#include "internal/SOGCoulombRealSpaceForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/reference/SimTKOpenMMRealType.h"
#include <algorithm>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static void checkIndex(int index, size_t size, const char* what) {
    if (index < 0 || index >= (int) size)
        throw OpenMMException(string("SOGCoulombRealSpaceForce: ") + what + " index " + to_string(index) +
                " is out of range (the force has " + to_string(size) + ")");
}

SOGCoulombRealSpaceForce::SOGCoulombRealSpaceForce() : cutoff(1.0), prefactor(ONE_4PI_EPS0), switchingDistance(-1.0),
        useSwitchingFunction(false), useDispersionCorrection(false) {
}

int SOGCoulombRealSpaceForce::addParticle(double charge, bool scaled) {
    return addParticle(charge, 0.0, 0.0, scaled);
}

int SOGCoulombRealSpaceForce::addParticle(double charge, double sigma, double epsilon, bool scaled) {
    particles.push_back(ParticleInfo{charge, sigma, epsilon, scaled});
    return particles.size() - 1;
}

void SOGCoulombRealSpaceForce::getParticleParameters(int index, double& charge, bool& scaled) const {
    checkIndex(index, particles.size(), "particle");
    charge = particles[index].charge;
    scaled = particles[index].scaled;
}

void SOGCoulombRealSpaceForce::setParticleParameters(int index, double charge, bool scaled) {
    checkIndex(index, particles.size(), "particle");
    particles[index].charge = charge;
    particles[index].scaled = scaled;
}

void SOGCoulombRealSpaceForce::getParticleLennardJonesParameters(int index, double& sigma, double& epsilon) const {
    checkIndex(index, particles.size(), "particle");
    sigma = particles[index].sigma;
    epsilon = particles[index].epsilon;
}

void SOGCoulombRealSpaceForce::setParticleLennardJonesParameters(int index, double sigma, double epsilon) {
    checkIndex(index, particles.size(), "particle");
    particles[index].sigma = sigma;
    particles[index].epsilon = epsilon;
}

int SOGCoulombRealSpaceForce::addException(int particle1, int particle2, double chargeProd) {
    return addException(particle1, particle2, chargeProd, 0.0, 0.0);
}

int SOGCoulombRealSpaceForce::addException(int particle1, int particle2, double chargeProd, double sigma, double epsilon) {
    exceptions.push_back(ExceptionInfo{particle1, particle2, chargeProd, sigma, epsilon});
    return exceptions.size() - 1;
}

void SOGCoulombRealSpaceForce::getExceptionParameters(int index, int& particle1, int& particle2, double& chargeProd) const {
    checkIndex(index, exceptions.size(), "exception");
    particle1 = exceptions[index].particle1;
    particle2 = exceptions[index].particle2;
    chargeProd = exceptions[index].chargeProd;
}

void SOGCoulombRealSpaceForce::setExceptionParameters(int index, int particle1, int particle2, double chargeProd) {
    checkIndex(index, exceptions.size(), "exception");
    exceptions[index].particle1 = particle1;
    exceptions[index].particle2 = particle2;
    exceptions[index].chargeProd = chargeProd;
}

void SOGCoulombRealSpaceForce::getExceptionLennardJonesParameters(int index, double& sigma, double& epsilon) const {
    checkIndex(index, exceptions.size(), "exception");
    sigma = exceptions[index].sigma;
    epsilon = exceptions[index].epsilon;
}

void SOGCoulombRealSpaceForce::setExceptionLennardJonesParameters(int index, double sigma, double epsilon) {
    checkIndex(index, exceptions.size(), "exception");
    exceptions[index].sigma = sigma;
    exceptions[index].epsilon = epsilon;
}

int SOGCoulombRealSpaceForce::addGaussian(double weight, double width) {
    gaussians.push_back(GaussianInfo{weight, width});
    return gaussians.size() - 1;
}

void SOGCoulombRealSpaceForce::getGaussianParameters(int index, double& weight, double& width) const {
    checkIndex(index, gaussians.size(), "Gaussian");
    weight = gaussians[index].weight;
    width = gaussians[index].width;
}

void SOGCoulombRealSpaceForce::setGaussianParameters(int index, double weight, double width) {
    checkIndex(index, gaussians.size(), "Gaussian");
    gaussians[index] = GaussianInfo{weight, width};
}

void SOGCoulombRealSpaceForce::setPolynomialCoefficients(const vector<double>& coefficients) {
    polynomial = coefficients;
}

void SOGCoulombRealSpaceForce::setCutoffDistance(double distance) {
    cutoff = distance;
}

void SOGCoulombRealSpaceForce::setUseSwitchingFunction(bool use) {
    useSwitchingFunction = use;
}

void SOGCoulombRealSpaceForce::setSwitchingDistance(double distance) {
    switchingDistance = distance;
}

void SOGCoulombRealSpaceForce::setUseDispersionCorrection(bool use) {
    useDispersionCorrection = use;
}

void SOGCoulombRealSpaceForce::setCoulombPrefactor(double value) {
    prefactor = value;
}

void SOGCoulombRealSpaceForce::setChargeScaleParameterName(const string& name) {
    // A renamed parameter keeps its requested derivative; removing it drops the request.
    if (name.empty())
        energyParameterDerivatives.clear();
    for (string& derivative : energyParameterDerivatives)
        derivative = name;
    chargeScaleName = name;
}

void SOGCoulombRealSpaceForce::addEnergyParameterDerivative(const string& name) {
    if (chargeScaleName.empty() || name != chargeScaleName)
        throw OpenMMException("SOGCoulombRealSpaceForce: cannot compute the derivative with respect to '" + name +
                "': the only parameter of this force is its charge scale parameter" +
                (chargeScaleName.empty() ? string(", and none is set (setChargeScaleParameterName())") : " '" + chargeScaleName + "'"));
    if (find(energyParameterDerivatives.begin(), energyParameterDerivatives.end(), name) == energyParameterDerivatives.end())
        energyParameterDerivatives.push_back(name);
}

const string& SOGCoulombRealSpaceForce::getEnergyParameterDerivativeName(int index) const {
    checkIndex(index, energyParameterDerivatives.size(), "energy parameter derivative");
    return energyParameterDerivatives[index];
}

void SOGCoulombRealSpaceForce::updateParametersInContext(Context& context) {
    dynamic_cast<SOGCoulombRealSpaceForceImpl&>(getImplInContext(context)).updateParametersInContext(getContextImpl(context));
}

ForceImpl* SOGCoulombRealSpaceForce::createImpl() const {
    return new SOGCoulombRealSpaceForceImpl(*this);
}
