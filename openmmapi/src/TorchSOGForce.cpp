#include "TorchSOGForce.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static void checkIndex(int index, size_t size) {
    if (index < 0 || index >= (int) size)
        throw OpenMMException("TorchSOGForce: Gaussian index " + to_string(index) + " is out of range (the force has " +
                to_string(size) + ")");
}

TorchSOGForce::TorchSOGForce(const string& file, const vector<int>& atomicNumbers, int numChannels) :
        file(file), atomicNumbers(atomicNumbers), numChannels(numChannels), tolerance(1e-5) {
    if (numChannels < 1)
        throw OpenMMException("TorchSOGForce: the number of channels must be at least 1");
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

ForceImpl* TorchSOGForce::createImpl() const {
    return new TorchSOGForceImpl(*this);
}
