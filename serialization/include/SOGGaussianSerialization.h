#ifndef OPENMM_SOGGAUSSIANSERIALIZATION_H_
#define OPENMM_SOGGAUSSIANSERIALIZATION_H_

#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <string>

namespace SOGPlugin {

/*
 * Readers for the proxies' XML whose errors say what is missing and where: `where` names the
 * element, for example "SOGForce XML" or "SOGForce XML, particle 3", and a missing attribute
 * gives "SOGForce XML: missing attribute 'tolerance'".
 */

inline void requireProperty(const OpenMM::SerializationNode& node, const std::string& name, const std::string& where) {
    if (!node.hasProperty(name))
        throw OpenMM::OpenMMException(where + ": missing attribute '" + name + "' (the XML is truncated or was not "
                "written by this plugin's XmlSerializer)");
}

inline int readIntProperty(const OpenMM::SerializationNode& node, const std::string& name, const std::string& where) {
    requireProperty(node, name, where);
    return node.getIntProperty(name);
}

inline double readDoubleProperty(const OpenMM::SerializationNode& node, const std::string& name, const std::string& where) {
    requireProperty(node, name, where);
    return node.getDoubleProperty(name);
}

inline std::string readStringProperty(const OpenMM::SerializationNode& node, const std::string& name, const std::string& where) {
    requireProperty(node, name, where);
    return node.getStringProperty(name);
}

inline const OpenMM::SerializationNode& readChildNode(const OpenMM::SerializationNode& node, const std::string& name,
        const std::string& where) {
    for (const OpenMM::SerializationNode& child : node.getChildren())
        if (child.getName() == name)
            return child;
    throw OpenMM::OpenMMException(where + ": missing element <" + name + "> (the XML is truncated or was not written "
            "by this plugin's XmlSerializer)");
}

/**
 * Check the version attribute of a proxy's node: throws "<forceName> XML: ..." if it is missing or
 * not one this build reads (1 to currentVersion).
 */
inline int readVersion(const OpenMM::SerializationNode& node, const std::string& forceName, int currentVersion) {
    int version = readIntProperty(node, "version", forceName + " XML");
    if (version < 1 || version > currentVersion)
        throw OpenMM::OpenMMException(forceName + " XML: unsupported version " + std::to_string(version) +
                "; this build reads versions 1 to " + std::to_string(currentVersion) + " (a newer openmm-sog wrote it?)");
    return version;
}

/**
 * Rethrow an error raised while building a force from XML so that it says the XML is the cause:
 * the setters' own errors ("SOGForce: ...") name what is wrong but not where it came from.
 */
[[noreturn]] inline void rethrowAsXmlError(const OpenMM::OpenMMException& error, const std::string& where) {
    std::string message = error.what();
    if (message.rfind(where, 0) == 0)
        throw error;
    throw OpenMM::OpenMMException(where + ": invalid content: " + message);
}

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
void deserializeGaussians(const OpenMM::SerializationNode& node, SOGKernelForce& force, const std::string& forceName) {
    int index = 0;
    for (const OpenMM::SerializationNode& gaussian : readChildNode(node, "Gaussians", forceName + " XML").getChildren()) {
        const std::string where = forceName + " XML, Gaussian " + std::to_string(index++);
        force.addGaussian(readDoubleProperty(gaussian, "w", where), readDoubleProperty(gaussian, "sigma", where),
                readIntProperty(gaussian, "c", where));
    }
}

} // namespace SOGPlugin

#endif /*OPENMM_SOGGAUSSIANSERIALIZATION_H_*/
