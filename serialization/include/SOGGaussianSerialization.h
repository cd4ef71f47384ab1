#ifndef OPENMM_SOGGAUSSIANSERIALIZATION_H_
#define OPENMM_SOGGAUSSIANSERIALIZATION_H_

#include "openmm/serialization/SerializationNode.h"

namespace SOGPlugin {

/**
 * Write the Gaussians of a force with SOGForce's kernel interface (SOGForce, TorchSOGForce) as a
 * "Gaussians" child node: one "Gaussian" per term with w (kJ/mol/e^2), sigma (nm) and c.
 */
template <class SOGKernelForce>
void serializeGaussians(const SOGKernelForce& force, OpenMM::SerializationNode& node) {
    OpenMM::SerializationNode& gaussians = node.createChildNode("Gaussians");
    for (int i = 0; i < force.getNumGaussians(); i++) {
        double weight, width;
        int channel;
        force.getGaussianParameters(i, weight, width, channel);
        gaussians.createChildNode("Gaussian").setDoubleProperty("w", weight).setDoubleProperty("sigma", width).setIntProperty("c", channel);
    }
}

/**
 * Add the Gaussians written by serializeGaussians() to a force.
 */
template <class SOGKernelForce>
void deserializeGaussians(const OpenMM::SerializationNode& node, SOGKernelForce& force) {
    for (const OpenMM::SerializationNode& gaussian : node.getChildNode("Gaussians").getChildren())
        force.addGaussian(gaussian.getDoubleProperty("w"), gaussian.getDoubleProperty("sigma"), gaussian.getIntProperty("c"));
}

} // namespace SOGPlugin

#endif /*OPENMM_SOGGAUSSIANSERIALIZATION_H_*/
