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

// Version 1: the first (Coulomb complement only).
// Version 2: Lennard-Jones: per-particle and per-exception sigma and epsilon, the switching
// function and the dispersion correction. Version 1 files still read (no Lennard-Jones).
static const int currentVersion = 2;

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
    node.setIntProperty("useSwitchingFunction", force.getUseSwitchingFunction() ? 1 : 0);
    node.setDoubleProperty("switchingDistance", force.getSwitchingDistance());
    node.setIntProperty("useDispersionCorrection", force.getUseDispersionCorrection() ? 1 : 0);
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
        double charge, sigma, epsilon;
        bool scaled;
        force.getParticleParameters(i, charge, scaled);
        force.getParticleLennardJonesParameters(i, sigma, epsilon);
        particles.createChildNode("Particle").setDoubleProperty("q", charge).setIntProperty("scaled", scaled ? 1 : 0)
                .setDoubleProperty("sig", sigma).setDoubleProperty("eps", epsilon);
    }
    SerializationNode& exceptions = node.createChildNode("Exceptions");
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int p1, p2;
        double chargeProd, sigma, epsilon;
        force.getExceptionParameters(e, p1, p2, chargeProd);
        force.getExceptionLennardJonesParameters(e, sigma, epsilon);
        exceptions.createChildNode("Exception").setIntProperty("p1", p1).setIntProperty("p2", p2).setDoubleProperty("qq", chargeProd)
                .setDoubleProperty("sig", sigma).setDoubleProperty("eps", epsilon);
    }
    SerializationNode& derivatives = node.createChildNode("EnergyParameterDerivatives");
    for (int i = 0; i < force.getNumEnergyParameterDerivatives(); i++)
        derivatives.createChildNode("Parameter").setStringProperty("name", force.getEnergyParameterDerivativeName(i));
}

void* SOGCoulombRealSpaceForceProxy::deserialize(const SerializationNode& node) const {
    const string where = "SOGCoulombRealSpaceForce XML";
    const int version = readVersion(node, "SOGCoulombRealSpaceForce", currentVersion);
    const bool hasLennardJones = (version >= 2);
    try {
        unique_ptr<SOGCoulombRealSpaceForce> force(new SOGCoulombRealSpaceForce());
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setCutoffDistance(readDoubleProperty(node, "cutoff", where));
        force->setCoulombPrefactor(readDoubleProperty(node, "prefactor", where));
        force->setChargeScaleParameterName(node.getStringProperty("chargeScaleName", ""));
        if (hasLennardJones) {
            force->setUseSwitchingFunction(readIntProperty(node, "useSwitchingFunction", where) != 0);
            force->setSwitchingDistance(readDoubleProperty(node, "switchingDistance", where));
            force->setUseDispersionCorrection(readIntProperty(node, "useDispersionCorrection", where) != 0);
        }
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
            const double charge = readDoubleProperty(particle, "q", particleWhere);
            const bool scaled = (readIntProperty(particle, "scaled", particleWhere) != 0);
            if (hasLennardJones)
                force->addParticle(charge, readDoubleProperty(particle, "sig", particleWhere), readDoubleProperty(particle, "eps", particleWhere),
                        scaled);
            else
                force->addParticle(charge, scaled);
        }
        index = 0;
        for (const SerializationNode& exception : readChildNode(node, "Exceptions", where).getChildren()) {
            const string exceptionWhere = where + ", exception " + to_string(index++);
            const int p1 = readIntProperty(exception, "p1", exceptionWhere), p2 = readIntProperty(exception, "p2", exceptionWhere);
            const double chargeProd = readDoubleProperty(exception, "qq", exceptionWhere);
            if (hasLennardJones)
                force->addException(p1, p2, chargeProd, readDoubleProperty(exception, "sig", exceptionWhere),
                        readDoubleProperty(exception, "eps", exceptionWhere));
            else
                force->addException(p1, p2, chargeProd);
        }
        for (const SerializationNode& parameter : readChildNode(node, "EnergyParameterDerivatives", where).getChildren())
            force->addEnergyParameterDerivative(readStringProperty(parameter, "name", where + ", energy parameter derivative"));
        return force.release();
    }
    catch (const OpenMMException& e) {
        rethrowAsXmlError(e, where);
    }
}
