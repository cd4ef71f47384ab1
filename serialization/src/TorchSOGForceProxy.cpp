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
    const string where = "TorchSOGForce XML";
    readVersion(node, "TorchSOGForce", currentVersion);
    try {
        vector<int> numbers;
        int index = 0;
        for (const SerializationNode& particle : readChildNode(node, "Particles", where).getChildren())
            numbers.push_back(readIntProperty(particle, "Z", where + ", particle " + to_string(index++)));
        unique_ptr<TorchSOGForce> force(new TorchSOGForce(readStringProperty(node, "file", where), numbers,
                readIntProperty(node, "numChannels", where)));
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setTolerance(readDoubleProperty(node, "tolerance", where));
        deserializeGaussians(node, *force, "TorchSOGForce");
        return force.release();
    }
    catch (const OpenMMException& e) {
        rethrowAsXmlError(e, where);
    }
}
