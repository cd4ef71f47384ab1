/*
 * Round trip of TorchSOGForce through XmlSerializer: every option is set to a non-default value
 * and every getter is compared. The XML carries the model's bytes (base64), so the copy needs no
 * file; no model is loaded here, so any bytes do. Version 1 XML (the path alone) is still read,
 * and damaged model text is refused with a message that names the problem.
 */
#include "TorchSOGForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/serialization/XmlSerializer.h"
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static string serialize(const TorchSOGForce& force) {
    stringstream buffer;
    XmlSerializer::serialize<TorchSOGForce>(&force, "Force", buffer);
    return buffer.str();
}

static TorchSOGForce* deserialize(const string& xml) {
    stringstream buffer(xml);
    return XmlSerializer::deserialize<TorchSOGForce>(buffer);
}

static void assertSameForce(const TorchSOGForce& force, const TorchSOGForce& copy) {
    ASSERT_EQUAL(force.getForceGroup(), copy.getForceGroup());
    ASSERT_EQUAL(force.getName(), copy.getName());
    ASSERT_EQUAL(force.getFile(), copy.getFile());
    ASSERT(force.getModelBytes() == copy.getModelBytes());
    ASSERT_EQUAL_CONTAINERS(force.getAtomicNumbers(), copy.getAtomicNumbers());
    ASSERT_EQUAL(force.getNumChannels(), copy.getNumChannels());
    ASSERT_EQUAL(force.getTolerance(), copy.getTolerance());
    ASSERT_EQUAL(force.getNumGaussians(), copy.getNumGaussians());
    for (int i = 0; i < force.getNumGaussians(); i++) {
        double w1, s1, w2, s2;
        int c1, c2;
        force.getGaussianParameters(i, w1, s1, c1);
        copy.getGaussianParameters(i, w2, s2, c2);
        ASSERT_EQUAL(w1, w2);
        ASSERT_EQUAL(s1, s2);
        ASSERT_EQUAL(c1, c2);
    }
    ASSERT_EQUAL_CONTAINERS(force.getParticles(), copy.getParticles());
    ASSERT_EQUAL(force.usesPeriodicBoundaryConditions(), copy.usesPeriodicBoundaryConditions());
    ASSERT_EQUAL(force.getChargeScaleParameterName(), copy.getChargeScaleParameterName());
    ASSERT_EQUAL(force.getChargeScaleDefaultValue(), copy.getChargeScaleDefaultValue());
    ASSERT_EQUAL_CONTAINERS(force.getChargeScaledParticles(), copy.getChargeScaledParticles());
    ASSERT_EQUAL(force.getEnergyScaleParameterName(), copy.getEnergyScaleParameterName());
    ASSERT_EQUAL(force.getEnergyScaleDefaultValue(), copy.getEnergyScaleDefaultValue());
    ASSERT_EQUAL(force.getNumEnergyParameterDerivatives(), copy.getNumEnergyParameterDerivatives());
    for (int i = 0; i < force.getNumEnergyParameterDerivatives(); i++)
        ASSERT_EQUAL(force.getEnergyParameterDerivativeName(i), copy.getEnergyParameterDerivativeName(i));
}

static void assertThrows(const string& xml, const string& expected) {
    try {
        delete deserialize(xml);
    }
    catch (const OpenMMException& e) {
        if (string(e.what()).find(expected) == string::npos)
            throw OpenMMException("expected an error containing \"" + expected + "\", got \"" + e.what() + "\"");
        return;
    }
    throw OpenMMException("expected an error containing \"" + expected + "\", got none");
}

static string replaceOnce(const string& text, const string& from, const string& to) {
    size_t at = text.find(from);
    ASSERT(at != string::npos);
    return text.substr(0, at) + to + text.substr(at+from.size());
}

/** The value of attribute `name` in the XML. */
static string attribute(const string& xml, const string& name) {
    size_t at = xml.find(" " + name + "=\"");
    ASSERT(at != string::npos);
    at += name.size()+3;
    return xml.substr(at, xml.find('"', at)-at);
}

void testSerialization(const string& file, const string& bytes) {
    TorchSOGForce force(file, {11, 17, 1, 8}, 2);
    ASSERT(force.getModelBytes() == bytes);
    ASSERT_EQUAL(file, force.getFile());
    force.setForceGroup(5);
    force.setName("SOG-Net");
    force.setTolerance(2.5e-6);
    force.addGaussian(1.5, 0.3, 0);
    force.addGaussian(-0.7, 0.61, 1);
    force.addGaussian(1.0/3.0, 1.1, 1);
    force.setParticles({7, 2, 9, 4});
    force.setUsesPeriodicBoundaryConditions(false);
    force.setChargeScaleParameterName("lambda_q");
    force.setChargeScaleDefaultValue(0.25);
    force.setChargeScaledParticles({9, 2});
    force.setEnergyScaleParameterName("lambda_e");
    force.setEnergyScaleDefaultValue(1.0/3.0);
    force.addEnergyParameterDerivative("lambda_e");
    force.addEnergyParameterDerivative("lambda_q");
    string xml = serialize(force);
    ASSERT(xml.find("version=\"3\"") != string::npos);
    // The copy holds the bytes: the file is not needed any more.
    remove(file.c_str());
    unique_ptr<TorchSOGForce> copy(deserialize(xml));
    assertSameForce(force, *copy);
}

void testBytesOfEveryLength() {
    // Each length modulo 3 (base64 padding "", "==", "="), NUL and high bytes included.
    string bytes;
    for (int length = 1; length <= 8; length++) {
        bytes += (char) (length == 2 ? 0 : 256-37*length);
        unique_ptr<TorchSOGForce> force(TorchSOGForce::fromBytes(bytes, {8}, 1));
        ASSERT_EQUAL(string(""), force->getFile());
        force->addGaussian(1.0, 0.2, 0);
        unique_ptr<TorchSOGForce> copy(deserialize(serialize(*force)));
        assertSameForce(*force, *copy);
    }
    unique_ptr<TorchSOGForce> named(TorchSOGForce::fromBytes("abc", {8, 1}, 3, "/elsewhere/model.pt"));
    ASSERT_EQUAL(string("/elsewhere/model.pt"), named->getFile());
    ASSERT_EQUAL(3, named->getNumChannels());
}

void testVersion1IsReadFromThePath(const string& file, const string& bytes) {
    TorchSOGForce force(file, {11, 17}, 1);
    force.addGaussian(1.5, 0.3, 0);
    string xml = serialize(force);
    // A version 1 file: no <Model>, the model read from the path when the XML is read.
    size_t model = xml.find("<Model");
    string version1 = replaceOnce(xml.substr(0, model) + xml.substr(xml.find("/>", model)+2), "version=\"3\"", "version=\"1\"");
    unique_ptr<TorchSOGForce> copy(deserialize(version1));
    assertSameForce(force, *copy);
    remove(file.c_str());
    assertThrows(version1, "TorchSOGForce XML: version 1 stores the model by its path: cannot open the model file '" + file + "'");
}

void testDamagedModelsAreRefused() {
    unique_ptr<TorchSOGForce> force(TorchSOGForce::fromBytes("a model of some bytes", {11, 17}, 1));
    force->addGaussian(1.5, 0.3, 0);
    string xml = serialize(*force);
    string text = attribute(xml, "base64");
    ASSERT_EQUAL(string("YSBtb2RlbCBvZiBzb21lIGJ5dGVz"), text);
    assertThrows(replaceOnce(xml, text, text.substr(0, text.size()-1)), "TorchSOGForce XML, <Model>: the model's base64 "
            "text has 27 characters, not a multiple of 4 (the XML is truncated");
    assertThrows(replaceOnce(xml, text, text.substr(0, text.size()-4)), "TorchSOGForce XML, <Model>: the base64 text decodes "
            "to 18 bytes but the model has 21");
    assertThrows(replaceOnce(xml, text, "YSBt*2Rl" + text.substr(8)), "invalid character '*' at position 4");
    assertThrows(replaceOnce(xml, text, "YS=t" + text.substr(4)), "invalid character '=' at position 2");
    assertThrows(replaceOnce(xml, " base64=\"" + text + "\"", ""), "TorchSOGForce XML, <Model>: missing attribute 'base64'");
    size_t model = xml.find("<Model");
    assertThrows(xml.substr(0, model) + xml.substr(xml.find("/>", model)+2), "TorchSOGForce XML: missing element <Model>");
    assertThrows(replaceOnce(xml, "version=\"3\"", "version=\"4\""), "TorchSOGForce XML: unsupported version 4");
    // Version 2 (no region, periodicity or parameters) reads as a whole periodic System without parameters.
    unique_ptr<TorchSOGForce> version2(deserialize(replaceOnce(xml, "version=\"3\"", "version=\"2\"")));
    assertSameForce(*force, *version2);
    assertThrows(replaceOnce(xml, " periodic=\"1\"", ""), "TorchSOGForce XML: missing attribute 'periodic'");
}

/** The message of the OpenMMException that `action` throws, or "" if it throws none. */
template <class Action>
static string errorOf(Action action) {
    try {
        action();
    }
    catch (const OpenMMException& e) {
        return e.what();
    }
    return "";
}

static void assertStartsWith(const string& message, const string& expected) {
    if (message.rfind(expected, 0) != 0)
        throw OpenMMException("expected an error starting \"" + expected + "\", got \"" + message + "\"");
}

void testUnreadableFiles(const string& directory) {
    string missing = directory + "/missing.pt";
    assertStartsWith(errorOf([&] { TorchSOGForce force(missing, {11}, 1); }),
            "TorchSOGForce: cannot open the model file '" + missing + "'");
    assertStartsWith(errorOf([&] { TorchSOGForce force(directory, {11}, 1); }),
            "TorchSOGForce: cannot read the model file '" + directory + "'");
    string empty = directory + "/TestSerializeTorchSOGForce-empty.pt";
    ofstream(empty, ios::binary).close();
    assertStartsWith(errorOf([&] { TorchSOGForce force(empty, {11}, 1); }),
            "TorchSOGForce: the model file '" + empty + "' is empty");
    remove(empty.c_str());
    assertStartsWith(errorOf([] { delete TorchSOGForce::fromBytes("", {11}, 1); }), "TorchSOGForce: the model bytes are empty");
    assertStartsWith(errorOf([&] { TorchSOGForce force("model.pt", {11}, -1); }), "TorchSOGForce: the number of channels");
    // 0 channels: read them from the export's metadata, which bytes that are not one lack.
    assertStartsWith(errorOf([] { delete TorchSOGForce::fromBytes("not an export", {11}, 0, "x.pt"); }),
            "TorchSOGForce: 'x.pt' has no metadata.json to read the Gaussians from");
}

int main() {
    try {
        // A "model" of every byte value; nothing here loads it.
        string bytes;
        for (int repeat = 0; repeat < 3; repeat++)
            for (int value = 0; value < 256; value++)
                bytes += (char) value;
        const string file = "TestSerializeTorchSOGForce model.pt";
        ofstream(file, ios::binary) << bytes;
        testSerialization(file, bytes);
        ofstream(file, ios::binary) << bytes;
        testVersion1IsReadFromThePath(file, bytes);
        testBytesOfEveryLength();
        testDamagedModelsAreRefused();
        testUnreadableFiles(".");
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
