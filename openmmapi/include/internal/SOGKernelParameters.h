#ifndef OPENMM_SOGKERNELPARAMETERS_H_
#define OPENMM_SOGKERNELPARAMETERS_H_

#include <vector>

namespace SOGPlugin {

/**
 * What a long-range engine needs to know about a force: the channels, the Gaussians and the
 * tolerance. SOGForceImpl::getKernelParameters() builds it from a SOGForce or a TorchSOGForce.
 * It has the accessors of those forces, so the templates of SOGForceImpl that read a force
 * (createGridRequest(), calcWeightSums(), findMinimumWidth(), validateKernel()) read it too:
 * the grid rules stay in one place.
 */
struct SOGKernelParameters {
    int numChannels = 0;          // P
    std::vector<double> weights;  // w_l of Gaussian l, measured in kJ/mol/e^2
    std::vector<double> widths;   // sigma_l, measured in nm
    std::vector<int> channels;    // the channel (0 <= c < P) of Gaussian l
    double tolerance = 1e-5;      // the relative error tolerance (dimensionless)

    int getNumChannels() const {
        return numChannels;
    }
    int getNumGaussians() const {
        return (int) weights.size();
    }
    void getGaussianParameters(int index, double& weight, double& width, int& channel) const {
        weight = weights[index];
        width = widths[index];
        channel = channels[index];
    }
    double getTolerance() const {
        return tolerance;
    }
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGKERNELPARAMETERS_H_*/
