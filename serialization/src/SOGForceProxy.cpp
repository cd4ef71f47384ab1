#include "SOGForceProxy.h"
#include "SOGForce.h"
#include "SOGGaussianSerialization.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <memory>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// Version 2 added the background integrals (version 1 files have none: all zero).
static const int currentVersion = 2;

SOGForceProxy::SOGForceProxy() : SerializationProxy("SOGForce") {
}

void SOGForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", currentVersion);
    const SOGForce& force = *reinterpret_cast<const SOGForce*>(object);
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    node.setIntProperty("numChannels", force.getNumChannels());
    node.setDoubleProperty("tolerance", force.getTolerance());
    node.setStringProperty("chargeScaleName", force.getChargeScaleParameterName());
    node.setDoubleProperty("chargeScaleDefault", force.getChargeScaleDefaultValue());
    serializeGaussians(force, node);
    SerializationNode& background = node.createChildNode("BackgroundIntegrals");
    for (int c = 0; c < force.getNumChannels(); c++)
        background.createChildNode("Channel").setDoubleProperty("B", force.getBackgroundIntegral(c));
    SerializationNode& particles = node.createChildNode("Particles");
    vector<double> charges;
    for (int i = 0; i < force.getNumParticles(); i++) {
        force.getParticleCharges(i, charges);
        SerializationNode& particle = particles.createChildNode("Particle");
        for (int c = 0; c < (int) charges.size(); c++)
            particle.setDoubleProperty("q" + to_string(c), charges[c]);
    }
    SerializationNode& scaled = node.createChildNode("ScaledParticles");
    for (int index : force.getScaledParticles())
        scaled.createChildNode("Particle").setIntProperty("index", index);
    SerializationNode& derivatives = node.createChildNode("EnergyParameterDerivatives");
    for (int i = 0; i < force.getNumEnergyParameterDerivatives(); i++)
        derivatives.createChildNode("Parameter").setStringProperty("name", force.getEnergyParameterDerivativeName(i));
}

void* SOGForceProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version < 1 || version > currentVersion)
        throw OpenMMException("SOGForce: unsupported serialization version " + to_string(version));
    unique_ptr<SOGForce> force(new SOGForce(node.getIntProperty("numChannels")));
    force->setForceGroup(node.getIntProperty("forceGroup", 0));
    force->setName(node.getStringProperty("name", force->getName()));
    force->setTolerance(node.getDoubleProperty("tolerance"));
    force->setChargeScaleParameterName(node.getStringProperty("chargeScaleName"));
    force->setChargeScaleDefaultValue(node.getDoubleProperty("chargeScaleDefault"));
    deserializeGaussians(node, *force);
    if (version >= 2) {
        int c = 0;
        for (const SerializationNode& channel : node.getChildNode("BackgroundIntegrals").getChildren())
            force->setBackgroundIntegral(channel.getDoubleProperty("B"), c++);
    }
    vector<double> charges(force->getNumChannels());
    for (const SerializationNode& particle : node.getChildNode("Particles").getChildren()) {
        for (int c = 0; c < (int) charges.size(); c++)
            charges[c] = particle.getDoubleProperty("q" + to_string(c));
        force->addParticle(charges);
    }
    vector<int> scaled;
    for (const SerializationNode& particle : node.getChildNode("ScaledParticles").getChildren())
        scaled.push_back(particle.getIntProperty("index"));
    force->setScaledParticles(scaled);
    for (const SerializationNode& parameter : node.getChildNode("EnergyParameterDerivatives").getChildren())
        force->addEnergyParameterDerivative(parameter.getStringProperty("name"));
    return force.release();
}
