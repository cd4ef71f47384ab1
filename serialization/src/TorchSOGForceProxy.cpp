#include "TorchSOGForceProxy.h"
#include "TorchSOGForce.h"
#include "SOGGaussianSerialization.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <memory>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static const int currentVersion = 1;

TorchSOGForceProxy::TorchSOGForceProxy() : SerializationProxy("TorchSOGForce") {
}

void TorchSOGForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", currentVersion);
    const TorchSOGForce& force = *reinterpret_cast<const TorchSOGForce*>(object);
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    node.setStringProperty("file", force.getFile());
    node.setIntProperty("numChannels", force.getNumChannels());
    node.setDoubleProperty("tolerance", force.getTolerance());
    serializeGaussians(force, node);
    SerializationNode& particles = node.createChildNode("Particles");
    for (int number : force.getAtomicNumbers())
        particles.createChildNode("Particle").setIntProperty("Z", number);
}

void* TorchSOGForceProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version < 1 || version > currentVersion)
        throw OpenMMException("TorchSOGForce: unsupported serialization version " + to_string(version));
    vector<int> numbers;
    for (const SerializationNode& particle : node.getChildNode("Particles").getChildren())
        numbers.push_back(particle.getIntProperty("Z"));
    unique_ptr<TorchSOGForce> force(new TorchSOGForce(node.getStringProperty("file"), numbers, node.getIntProperty("numChannels")));
    force->setForceGroup(node.getIntProperty("forceGroup", 0));
    force->setName(node.getStringProperty("name", force->getName()));
    force->setTolerance(node.getDoubleProperty("tolerance"));
    deserializeGaussians(node, *force);
    return force.release();
}
