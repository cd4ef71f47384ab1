#include "SOGCoulombRealSpaceForceProxy.h"
#include "SOGCoulombRealSpaceForce.h"
#include "SOGGaussianSerialization.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <memory>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// Version 1: the first.
static const int currentVersion = 1;

SOGCoulombRealSpaceForceProxy::SOGCoulombRealSpaceForceProxy() : SerializationProxy("SOGCoulombRealSpaceForce") {
}

void SOGCoulombRealSpaceForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", currentVersion);
    const SOGCoulombRealSpaceForce& force = *reinterpret_cast<const SOGCoulombRealSpaceForce*>(object);
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    node.setDoubleProperty("cutoff", force.getCutoffDistance());
    node.setDoubleProperty("prefactor", force.getCoulombPrefactor());
    node.setStringProperty("chargeScaleName", force.getChargeScaleParameterName());
    SerializationNode& gaussians = node.createChildNode("Gaussians");
    for (int l = 0; l < force.getNumGaussians(); l++) {
        double weight, width;
        force.getGaussianParameters(l, weight, width);
        gaussians.createChildNode("Gaussian").setDoubleProperty("w", weight).setDoubleProperty("sigma", width);
    }
    SerializationNode& polynomial = node.createChildNode("Polynomial");
    for (double c : force.getPolynomialCoefficients())
        polynomial.createChildNode("Coefficient").setDoubleProperty("c", c);
    SerializationNode& particles = node.createChildNode("Particles");
    for (int i = 0; i < force.getNumParticles(); i++) {
        double charge;
        bool scaled;
        force.getParticleParameters(i, charge, scaled);
        particles.createChildNode("Particle").setDoubleProperty("q", charge).setIntProperty("scaled", scaled ? 1 : 0);
    }
    SerializationNode& exceptions = node.createChildNode("Exceptions");
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        exceptions.createChildNode("Exception").setIntProperty("p1", p1).setIntProperty("p2", p2).setDoubleProperty("qq", chargeProd);
    }
    SerializationNode& derivatives = node.createChildNode("EnergyParameterDerivatives");
    for (int i = 0; i < force.getNumEnergyParameterDerivatives(); i++)
        derivatives.createChildNode("Parameter").setStringProperty("name", force.getEnergyParameterDerivativeName(i));
}

void* SOGCoulombRealSpaceForceProxy::deserialize(const SerializationNode& node) const {
    const string where = "SOGCoulombRealSpaceForce XML";
    readVersion(node, "SOGCoulombRealSpaceForce", currentVersion);
    try {
        unique_ptr<SOGCoulombRealSpaceForce> force(new SOGCoulombRealSpaceForce());
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setCutoffDistance(readDoubleProperty(node, "cutoff", where));
        force->setCoulombPrefactor(readDoubleProperty(node, "prefactor", where));
        force->setChargeScaleParameterName(node.getStringProperty("chargeScaleName", ""));
        int index = 0;
        for (const SerializationNode& gaussian : readChildNode(node, "Gaussians", where).getChildren()) {
            const string gaussianWhere = where + ", Gaussian " + to_string(index++);
            force->addGaussian(readDoubleProperty(gaussian, "w", gaussianWhere), readDoubleProperty(gaussian, "sigma", gaussianWhere));
        }
        vector<double> polynomial;
        for (const SerializationNode& coefficient : readChildNode(node, "Polynomial", where).getChildren())
            polynomial.push_back(readDoubleProperty(coefficient, "c", where + ", polynomial coefficient " + to_string(polynomial.size())));
        force->setPolynomialCoefficients(polynomial);
        index = 0;
        for (const SerializationNode& particle : readChildNode(node, "Particles", where).getChildren()) {
            const string particleWhere = where + ", particle " + to_string(index++);
            force->addParticle(readDoubleProperty(particle, "q", particleWhere), readIntProperty(particle, "scaled", particleWhere) != 0);
        }
        index = 0;
        for (const SerializationNode& exception : readChildNode(node, "Exceptions", where).getChildren()) {
            const string exceptionWhere = where + ", exception " + to_string(index++);
            force->addException(readIntProperty(exception, "p1", exceptionWhere), readIntProperty(exception, "p2", exceptionWhere),
                    readDoubleProperty(exception, "qq", exceptionWhere));
        }
        for (const SerializationNode& parameter : readChildNode(node, "EnergyParameterDerivatives", where).getChildren())
            force->addEnergyParameterDerivative(readStringProperty(parameter, "name", where + ", energy parameter derivative"));
        return force.release();
    }
    catch (const OpenMMException& e) {
        rethrowAsXmlError(e, where);
    }
}
