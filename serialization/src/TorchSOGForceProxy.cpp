#include "TorchSOGForceProxy.h"
#include "TorchSOGForce.h"
#include "SOGGaussianSerialization.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <cstdint>
#include <memory>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// Version 1 stored the path of the model file; version 2 stores the file's bytes (base64); version 3
// adds the ML region, the periodicity and the alchemical parameters.
static const int currentVersion = 3;

static const char BASE64_DIGITS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * The bytes as base64 (RFC 4648, with '=' padding, no line breaks).
 */
static string encodeBase64(const string& bytes) {
    string text;
    text.reserve(4*((bytes.size()+2)/3));
    for (size_t i = 0; i < bytes.size(); i += 3) {
        size_t count = min<size_t>(3, bytes.size()-i);
        uint32_t group = uint32_t(uint8_t(bytes[i])) << 16;
        if (count > 1)
            group |= uint32_t(uint8_t(bytes[i+1])) << 8;
        if (count > 2)
            group |= uint8_t(bytes[i+2]);
        text += BASE64_DIGITS[(group >> 18) & 63];
        text += BASE64_DIGITS[(group >> 12) & 63];
        text += (count > 1 ? BASE64_DIGITS[(group >> 6) & 63] : '=');
        text += (count > 2 ? BASE64_DIGITS[group & 63] : '=');
    }
    return text;
}

static int base64Digit(char c) {
    if (c >= 'A' && c <= 'Z')
        return c-'A';
    if (c >= 'a' && c <= 'z')
        return c-'a'+26;
    if (c >= '0' && c <= '9')
        return c-'0'+52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/**
 * Decode what encodeBase64() wrote; throws "<where>: ..." naming what is wrong with the text.
 */
static string decodeBase64(const string& text, const string& where) {
    const string remedy = " (the XML is truncated or was edited; save the System again from a good copy)";
    if (text.size()%4 != 0)
        throw OpenMMException(where + ": the model's base64 text has " + to_string(text.size()) +
                " characters, not a multiple of 4" + remedy);
    string bytes;
    bytes.reserve(3*(text.size()/4));
    for (size_t i = 0; i < text.size(); i += 4) {
        bool last = (i+4 == text.size());
        int padding = (last && text[i+3] == '=' ? (text[i+2] == '=' ? 2 : 1) : 0);
        uint32_t group = 0;
        for (int j = 0; j < 4; j++) {
            char c = text[i+j];
            int digit = (j >= 4-padding ? 0 : base64Digit(c));
            if (digit < 0) {
                string shown = (c >= 0x21 && c <= 0x7e ? string("'") + c + "'" : "code " + to_string((int) (unsigned char) c));
                throw OpenMMException(where + ": the model's base64 text has an invalid character " + shown +
                        " at position " + to_string(i+j) + remedy);
            }
            group = (group << 6) | digit;
        }
        bytes += char(group >> 16);
        if (padding < 2)
            bytes += char((group >> 8) & 255);
        if (padding < 1)
            bytes += char(group & 255);
    }
    return bytes;
}

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
    node.setBoolProperty("periodic", force.usesPeriodicBoundaryConditions());
    node.setStringProperty("chargeScaleParameter", force.getChargeScaleParameterName());
    node.setDoubleProperty("chargeScaleDefault", force.getChargeScaleDefaultValue());
    node.setStringProperty("energyScaleParameter", force.getEnergyScaleParameterName());
    node.setDoubleProperty("energyScaleDefault", force.getEnergyScaleDefaultValue());
    SerializationNode& region = node.createChildNode("Region");
    for (int index : force.getParticles())
        region.createChildNode("Particle").setIntProperty("index", index);
    SerializationNode& scaled = node.createChildNode("ChargeScaledParticles");
    for (int index : force.getChargeScaledParticles())
        scaled.createChildNode("Particle").setIntProperty("index", index);
    SerializationNode& derivatives = node.createChildNode("EnergyParameterDerivatives");
    for (int k = 0; k < force.getNumEnergyParameterDerivatives(); k++)
        derivatives.createChildNode("Parameter").setStringProperty("name", force.getEnergyParameterDerivativeName(k));
    // The model itself, so that the XML runs where the file is not.
    SerializationNode& model = node.createChildNode("Model");
    model.setLongProperty("size", (long long) force.getModelBytes().size());
    model.setStringProperty("base64", encodeBase64(force.getModelBytes()));
}

void* TorchSOGForceProxy::deserialize(const SerializationNode& node) const {
    const string where = "TorchSOGForce XML";
    int version = readVersion(node, "TorchSOGForce", currentVersion);
    try {
        vector<int> numbers;
        int index = 0;
        for (const SerializationNode& particle : readChildNode(node, "Particles", where).getChildren())
            numbers.push_back(readIntProperty(particle, "Z", where + ", particle " + to_string(index++)));
        string file = readStringProperty(node, "file", where);
        int numChannels = readIntProperty(node, "numChannels", where);
        unique_ptr<TorchSOGForce> force;
        if (version == 1) {
            // Version 1 holds the path alone: read the model from the file now.
            try {
                force.reset(new TorchSOGForce(file, numbers, numChannels));
            }
            catch (const OpenMMException& e) {
                string message = e.what();
                const string prefix = "TorchSOGForce: ";
                if (message.find("the model file") == string::npos)
                    throw;
                if (message.rfind(prefix, 0) == 0)
                    message = message.substr(prefix.size());
                throw OpenMMException(where + ": version 1 stores the model by its path: " + message +
                        "; put the file there, then save the System again: newer versions store the model itself");
            }
        }
        else {
            const SerializationNode& model = readChildNode(node, "Model", where);
            const string modelWhere = where + ", <Model>";
            requireProperty(model, "size", modelWhere);
            long long size = model.getLongProperty("size");
            string bytes = decodeBase64(readStringProperty(model, "base64", modelWhere), modelWhere);
            if ((long long) bytes.size() != size)
                throw OpenMMException(modelWhere + ": the base64 text decodes to " + to_string(bytes.size()) +
                        " bytes but the model has " + to_string(size) + " (the XML is truncated or was edited)");
            force.reset(TorchSOGForce::fromBytes(bytes, numbers, numChannels, file));
        }
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setTolerance(readDoubleProperty(node, "tolerance", where));
        deserializeGaussians(node, *force, "TorchSOGForce");
        if (version >= 3) {
            requireProperty(node, "periodic", where);
            force->setUsesPeriodicBoundaryConditions(node.getBoolProperty("periodic"));
            force->setChargeScaleParameterName(readStringProperty(node, "chargeScaleParameter", where));
            force->setChargeScaleDefaultValue(readDoubleProperty(node, "chargeScaleDefault", where));
            force->setEnergyScaleParameterName(readStringProperty(node, "energyScaleParameter", where));
            force->setEnergyScaleDefaultValue(readDoubleProperty(node, "energyScaleDefault", where));
            auto readIndices = [&](const string& child) {
                vector<int> indices;
                int k = 0;
                for (const SerializationNode& particle : readChildNode(node, child, where).getChildren())
                    indices.push_back(readIntProperty(particle, "index", where + ", <" + child + "> entry " + to_string(k++)));
                return indices;
            };
            force->setParticles(readIndices("Region"));
            force->setChargeScaledParticles(readIndices("ChargeScaledParticles"));
            for (const SerializationNode& parameter : readChildNode(node, "EnergyParameterDerivatives", where).getChildren())
                force->addEnergyParameterDerivative(readStringProperty(parameter, "name", where + ", <EnergyParameterDerivatives>"));
        }
        return force.release();
    }
    catch (const OpenMMException& e) {
        rethrowAsXmlError(e, where);
    }
}
