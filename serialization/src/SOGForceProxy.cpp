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
    const string where = "SOGForce XML";
    int version = readVersion(node, "SOGForce", currentVersion);
    try {
        unique_ptr<SOGForce> force(new SOGForce(readIntProperty(node, "numChannels", where)));
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setTolerance(readDoubleProperty(node, "tolerance", where));
        force->setChargeScaleParameterName(readStringProperty(node, "chargeScaleName", where));
        force->setChargeScaleDefaultValue(readDoubleProperty(node, "chargeScaleDefault", where));
        deserializeGaussians(node, *force, "SOGForce");
        if (version >= 2) {
            const vector<SerializationNode>& channels = readChildNode(node, "BackgroundIntegrals", where).getChildren();
            if ((int) channels.size() != force->getNumChannels())
                throw OpenMMException(where + ": <BackgroundIntegrals> has " + to_string(channels.size()) +
                        " channels but numChannels is " + to_string(force->getNumChannels()));
            for (int c = 0; c < (int) channels.size(); c++)
                force->setBackgroundIntegral(readDoubleProperty(channels[c], "B", where + ", background integral " + to_string(c)), c);
        }
        vector<double> charges(force->getNumChannels());
        int index = 0;
        for (const SerializationNode& particle : readChildNode(node, "Particles", where).getChildren()) {
            const string particleWhere = where + ", particle " + to_string(index++);
            for (int c = 0; c < (int) charges.size(); c++)
                charges[c] = readDoubleProperty(particle, "q" + to_string(c), particleWhere);
            force->addParticle(charges);
        }
        vector<int> scaled;
        for (const SerializationNode& particle : readChildNode(node, "ScaledParticles", where).getChildren())
            scaled.push_back(readIntProperty(particle, "index", where + ", scaled particle"));
        force->setScaledParticles(scaled);
        for (const SerializationNode& parameter : readChildNode(node, "EnergyParameterDerivatives", where).getChildren())
            force->addEnergyParameterDerivative(readStringProperty(parameter, "name", where + ", energy parameter derivative"));
        return force.release();
    }
    catch (const OpenMMException& e) {
        rethrowAsXmlError(e, where);
    }
}
