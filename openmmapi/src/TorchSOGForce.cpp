#include "TorchSOGForce.h"
#include "internal/SOGExportMetadata.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include <fstream>
#include <iterator>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static void checkIndex(int index, size_t size) {
    if (index < 0 || index >= (int) size)
        throw OpenMMException("TorchSOGForce: Gaussian index " + to_string(index) + " is out of range (the force has " +
                to_string(size) + ")");
}

static void checkNumChannels(int numChannels) {
    if (numChannels < 0)
        throw OpenMMException("TorchSOGForce: the number of channels must be at least 1 (or 0 to read it from the "
                "export's metadata)");
}

/**
 * The bytes of a model file, or an OpenMMException naming the file.
 */
static string readModelFile(const string& file) {
    ifstream input(file, ios::in | ios::binary);
    if (!input)
        throw OpenMMException("TorchSOGForce: cannot open the model file '" + file + "' (write it with `sognet export`)");
    string bytes;
    string reason;
    try {
        bytes.assign(istreambuf_iterator<char>(input), istreambuf_iterator<char>());
    }
    catch (const exception& e) {
        // libstdc++ throws from the stream buffer, for example when the path is a directory.
        reason = string(": ") + e.what();
    }
    if (!reason.empty() || input.bad())
        throw OpenMMException("TorchSOGForce: cannot read the model file '" + file + "'" + reason);
    if (bytes.empty())
        throw OpenMMException("TorchSOGForce: the model file '" + file + "' is empty; export it again with `sognet export`");
    return bytes;
}

TorchSOGForce::TorchSOGForce(const string& file, const vector<int>& atomicNumbers, int numChannels) :
        file(file), atomicNumbers(atomicNumbers), numChannels(numChannels), tolerance(1e-5), chargeScaleDefault(1.0),
        energyScaleDefault(1.0), periodic(true) {
    checkNumChannels(numChannels);
    modelBytes = readModelFile(file);
    readMetadata(numChannels);
}

TorchSOGForce::TorchSOGForce(FromBytes, const string& modelBytes, const string& file, const vector<int>& atomicNumbers,
        int numChannels) : file(file), modelBytes(modelBytes), atomicNumbers(atomicNumbers), numChannels(numChannels),
        tolerance(1e-5), chargeScaleDefault(1.0), energyScaleDefault(1.0), periodic(true) {
    checkNumChannels(numChannels);
    if (modelBytes.empty())
        throw OpenMMException("TorchSOGForce: the model bytes are empty; give the contents of a file written by "
                "`sognet export`");
    readMetadata(numChannels);
}

void TorchSOGForce::readMetadata(int requestedChannels) {
    const string source = (file.empty() ? "the given model bytes" : "'" + file + "'");
    // Only a zip archive (what torch.jit.save writes) can hold metadata; anything else fails to load
    // as a model later, with libtorch's reason.
    SOGExportMetadata metadata;
    if (modelBytes.compare(0, 4, "PK\x03\x04") == 0)
        metadata = readExportMetadata(modelBytes, source);
    if (metadata.format == "openmm-torch")
        throw OpenMMException("TorchSOGForce: " + source + " is an export for openmm-torch's TorchForce (format "
                "openmm-torch); TorchSOGForce runs the plain `sognet export` of the model");
    // The kernel converts from the units sognet exports use; another export would be misread.
    const vector<pair<string, string>> units = {{metadata.lengthUnit, "Angstrom"}, {metadata.energyUnit, "eV"},
            {metadata.chargeUnit, "e"}};
    for (const auto& [found, expected] : units)
        if (!found.empty() && found != expected)
            throw OpenMMException("TorchSOGForce: " + source + " records units (" + metadata.lengthUnit + ", " +
                    metadata.energyUnit + ", " + metadata.chargeUnit + "), but TorchSOGForce converts from Angstrom, eV "
                    "and e; export the model with `sognet export`");
    if (requestedChannels > 0) {
        if (metadata.present && metadata.longRange && metadata.numChannels != requestedChannels)
            throw OpenMMException("TorchSOGForce: " + source + " has " + to_string(metadata.numChannels) + " charge "
                    "channels, but the force was given " + to_string(requestedChannels) + " (pass 0 to read them from the "
                    "export)");
        modelSpecies = metadata.atomicNumbers;
        modelCutoff = metadata.cutoffNm;
        return;
    }
    const string remedy = "; write it with `sognet export`, or give the number of channels and add the Gaussians";
    if (!metadata.present)
        throw OpenMMException("TorchSOGForce: " + source + " has no metadata.json to read the Gaussians from" + remedy);
    if (!metadata.longRange)
        throw OpenMMException("TorchSOGForce: " + source + " is a short-range-only model (no Gaussians in its "
                "metadata); TorchSOGForce needs a long range (run short-range models with openmm_sog's "
                "create_sognet_force(..., implementation='python'))");
    numChannels = metadata.numChannels;
    tolerance = metadata.tolerance;
    periodic = (metadata.periodic != 0);
    modelSpecies = metadata.atomicNumbers;
    modelCutoff = metadata.cutoffNm;
    for (int c = 0; c < numChannels; c++)
        for (int l = 0; l < (int) metadata.weights[c].size(); l++)
            modelGaussians.push_back(ModelGaussian{GaussianInfo{metadata.weights[c][l], metadata.widths[c][l], c},
                    metadata.kspace[c][l]});
    useModelGaussians();
}

void TorchSOGForce::useModelGaussians() {
    // Periodic: the lattice sum of the k-space Gaussians (the model sums the others in real space).
    // Free space: the pair sum of all of them.
    gaussians.clear();
    for (const ModelGaussian& term : modelGaussians)
        if (term.kspace || !periodic)
            gaussians.push_back(term.gaussian);
    gaussiansFromModel = true;
}

TorchSOGForce* TorchSOGForce::fromBytes(const string& modelBytes, const vector<int>& atomicNumbers, int numChannels,
        const string& file) {
    return new TorchSOGForce(FromBytes(), modelBytes, file, atomicNumbers, numChannels);
}

int TorchSOGForce::addGaussian(double weight, double width, int channel) {
    gaussiansFromModel = false;
    gaussians.push_back(GaussianInfo{weight, width, channel});
    return gaussians.size() - 1;
}

void TorchSOGForce::getGaussianParameters(int index, double& weight, double& width, int& channel) const {
    checkIndex(index, gaussians.size());
    weight = gaussians[index].weight;
    width = gaussians[index].width;
    channel = gaussians[index].channel;
}

void TorchSOGForce::setGaussianParameters(int index, double weight, double width, int channel) {
    checkIndex(index, gaussians.size());
    gaussiansFromModel = false;
    gaussians[index] = GaussianInfo{weight, width, channel};
}

void TorchSOGForce::setTolerance(double tol) {
    tolerance = tol;
}

void TorchSOGForce::setParticles(const vector<int>& indices) {
    particles = indices;
}

void TorchSOGForce::setUsesPeriodicBoundaryConditions(bool usesPeriodic) {
    periodic = usesPeriodic;
    if (gaussiansFromModel)
        useModelGaussians();
}

void TorchSOGForce::setChargeScaleParameterName(const string& name) {
    chargeScaleName = name;
}

void TorchSOGForce::setChargeScaleDefaultValue(double value) {
    chargeScaleDefault = value;
}

void TorchSOGForce::setChargeScaledParticles(const vector<int>& indices) {
    chargeScaledParticles = indices;
}

void TorchSOGForce::setEnergyScaleParameterName(const string& name) {
    energyScaleName = name;
}

void TorchSOGForce::setEnergyScaleDefaultValue(double value) {
    energyScaleDefault = value;
}

void TorchSOGForce::addEnergyParameterDerivative(const string& name) {
    for (const string& existing : energyParameterDerivatives)
        if (existing == name)
            return;
    energyParameterDerivatives.push_back(name);
}

const string& TorchSOGForce::getEnergyParameterDerivativeName(int index) const {
    if (index < 0 || index >= (int) energyParameterDerivatives.size())
        throw OpenMMException("TorchSOGForce: energy parameter derivative index " + to_string(index) +
                " is out of range (the force has " + to_string(energyParameterDerivatives.size()) + ")");
    return energyParameterDerivatives[index];
}

ForceImpl* TorchSOGForce::createImpl() const {
    return new TorchSOGForceImpl(*this);
}
