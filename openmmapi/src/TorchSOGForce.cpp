#include "TorchSOGForce.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include <fstream>
#include <iterator>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static void checkIndex(int index, size_t size) {
    if (index < 0 || index >= (int) size)
        throw OpenMMException("TorchSOGForce: Gaussian index " + to_string(index) + " is out of range (the force has " +
                to_string(size) + ")");
}

static void checkNumChannels(int numChannels) {
    if (numChannels < 1)
        throw OpenMMException("TorchSOGForce: the number of channels must be at least 1");
}

/**
 * The bytes of a model file, or an OpenMMException naming the file.
 */
static string readModelFile(const string& file) {
    ifstream input(file, ios::in | ios::binary);
    if (!input)
        throw OpenMMException("TorchSOGForce: cannot open the model file '" + file + "' (write it with `sognet export`)");
    string bytes;
    string reason;
    try {
        bytes.assign(istreambuf_iterator<char>(input), istreambuf_iterator<char>());
    }
    catch (const exception& e) {
        // libstdc++ throws from the stream buffer, for example when the path is a directory.
        reason = string(": ") + e.what();
    }
    if (!reason.empty() || input.bad())
        throw OpenMMException("TorchSOGForce: cannot read the model file '" + file + "'" + reason);
    if (bytes.empty())
        throw OpenMMException("TorchSOGForce: the model file '" + file + "' is empty; export it again with `sognet export`");
    return bytes;
}

TorchSOGForce::TorchSOGForce(const string& file, const vector<int>& atomicNumbers, int numChannels) :
        file(file), atomicNumbers(atomicNumbers), numChannels(numChannels), tolerance(1e-5), chargeScaleDefault(1.0),
        energyScaleDefault(1.0), periodic(true) {
    checkNumChannels(numChannels);
    modelBytes = readModelFile(file);
}

TorchSOGForce::TorchSOGForce(FromBytes, const string& modelBytes, const string& file, const vector<int>& atomicNumbers,
        int numChannels) : file(file), modelBytes(modelBytes), atomicNumbers(atomicNumbers), numChannels(numChannels),
        tolerance(1e-5), chargeScaleDefault(1.0), energyScaleDefault(1.0), periodic(true) {
    checkNumChannels(numChannels);
    if (modelBytes.empty())
        throw OpenMMException("TorchSOGForce: the model bytes are empty; give the contents of a file written by "
                "`sognet export`");
}

TorchSOGForce* TorchSOGForce::fromBytes(const string& modelBytes, const vector<int>& atomicNumbers, int numChannels,
        const string& file) {
    return new TorchSOGForce(FromBytes(), modelBytes, file, atomicNumbers, numChannels);
}

int TorchSOGForce::addGaussian(double weight, double width, int channel) {
    gaussians.push_back(GaussianInfo{weight, width, channel});
    return gaussians.size() - 1;
}

void TorchSOGForce::getGaussianParameters(int index, double& weight, double& width, int& channel) const {
    checkIndex(index, gaussians.size());
    weight = gaussians[index].weight;
    width = gaussians[index].width;
    channel = gaussians[index].channel;
}

void TorchSOGForce::setGaussianParameters(int index, double weight, double width, int channel) {
    checkIndex(index, gaussians.size());
    gaussians[index] = GaussianInfo{weight, width, channel};
}

void TorchSOGForce::setTolerance(double tol) {
    tolerance = tol;
}

void TorchSOGForce::setParticles(const vector<int>& indices) {
    particles = indices;
}

void TorchSOGForce::setUsesPeriodicBoundaryConditions(bool usesPeriodic) {
    periodic = usesPeriodic;
}

void TorchSOGForce::setChargeScaleParameterName(const string& name) {
    chargeScaleName = name;
}

void TorchSOGForce::setChargeScaleDefaultValue(double value) {
    chargeScaleDefault = value;
}

void TorchSOGForce::setChargeScaledParticles(const vector<int>& indices) {
    chargeScaledParticles = indices;
}

void TorchSOGForce::setEnergyScaleParameterName(const string& name) {
    energyScaleName = name;
}

void TorchSOGForce::setEnergyScaleDefaultValue(double value) {
    energyScaleDefault = value;
}

void TorchSOGForce::addEnergyParameterDerivative(const string& name) {
    for (const string& existing : energyParameterDerivatives)
        if (existing == name)
            return;
    energyParameterDerivatives.push_back(name);
}

const string& TorchSOGForce::getEnergyParameterDerivativeName(int index) const {
    if (index < 0 || index >= (int) energyParameterDerivatives.size())
        throw OpenMMException("TorchSOGForce: energy parameter derivative index " + to_string(index) +
                " is out of range (the force has " + to_string(energyParameterDerivatives.size()) + ")");
    return energyParameterDerivatives[index];
}

ForceImpl* TorchSOGForce::createImpl() const {
    return new TorchSOGForceImpl(*this);
}
