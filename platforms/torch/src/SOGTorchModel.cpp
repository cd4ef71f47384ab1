#include "SOGTorchModel.h"
#include "internal/SOGExportMetadata.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// The newest metadata.json layout this build reads: openmm_sog.training.export.EXPORT_FORMAT_VERSION.
static const long long EXPORT_FORMAT_VERSION = 1;
// Two atoms closer than this (nm) explain a model that returns NaN: its descriptors are undefined there.
static const double COINCIDENT_DISTANCE = 1e-6;

namespace {

/**
 * SHA-256 (FIPS 180-4), enough to check the weights of a model file against its metadata.
 */
class Sha256 {
public:
    Sha256() : state{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19},
            blockSize(0), totalBytes(0) {
    }
    void update(const void* data, size_t size) {
        const uint8_t* bytes = static_cast<const uint8_t*>(data);
        totalBytes += size;
        while (size > 0) {
            size_t take = min(size, block.size()-blockSize);
            memcpy(block.data()+blockSize, bytes, take);
            blockSize += take;
            bytes += take;
            size -= take;
            if (blockSize == block.size()) {
                compress();
                blockSize = 0;
            }
        }
    }
    string hexDigest() {
        uint64_t bits = totalBytes*8;
        uint8_t pad = 0x80;
        update(&pad, 1);
        pad = 0;
        while (blockSize != 56)
            update(&pad, 1);
        uint8_t length[8];
        for (int i = 0; i < 8; i++)
            length[i] = (uint8_t) (bits >> (56-8*i));
        update(length, 8);
        static const char* hex = "0123456789abcdef";
        string digest;
        for (uint32_t word : state)
            for (int shift = 28; shift >= 0; shift -= 4)
                digest += hex[(word >> shift) & 0xf];
        return digest;
    }
private:
    static uint32_t rotr(uint32_t x, int n) {
        return (x >> n) | (x << (32-n));
    }
    void compress() {
        static const uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t(block[4*i]) << 24) | (uint32_t(block[4*i+1]) << 16) | (uint32_t(block[4*i+2]) << 8) | block[4*i+3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = rotr(w[i-15], 7) ^ rotr(w[i-15], 18) ^ (w[i-15] >> 3);
            uint32_t s1 = rotr(w[i-2], 17) ^ rotr(w[i-2], 19) ^ (w[i-2] >> 10);
            w[i] = w[i-16] + s0 + w[i-7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        uint32_t added[8] = {a, b, c, d, e, f, g, h};
        for (int i = 0; i < 8; i++)
            state[i] += added[i];
    }
    array<uint32_t, 8> state;
    array<uint8_t, 64> block;
    size_t blockSize;
    uint64_t totalBytes;
};

/**
 * The dtype's name in the checksum stream, as Python writes it (str(torch.float32) without "torch.").
 */
string dtypeName(c10::ScalarType type) {
    switch (type) {
        case torch::kFloat32: return "float32";
        case torch::kFloat64: return "float64";
        case torch::kFloat16: return "float16";
        case torch::kBFloat16: return "bfloat16";
        case torch::kInt64: return "int64";
        case torch::kInt32: return "int32";
        case torch::kInt16: return "int16";
        case torch::kInt8: return "int8";
        case torch::kUInt8: return "uint8";
        case torch::kBool: return "bool";
        case torch::kComplexFloat: return "complex64";
        case torch::kComplexDouble: return "complex128";
        default: return c10::toString(type);
    }
}

/**
 * SHA-256 of the module's named parameters and buffers in the canonical stream of
 * openmm_sog/training/integrity.py: per tensor, sorted by name, "name\0dtype\0shape\0", the byte
 * count (uint64 little-endian) and the contiguous bytes (little-endian, as on every host we build for).
 */
string weightsDigest(const torch::jit::Module& module) {
    vector<pair<string, torch::Tensor>> tensors;
    for (const auto& item : module.named_parameters(true))
        tensors.emplace_back(item.name, item.value);
    for (const auto& item : module.named_buffers(true))
        tensors.emplace_back(item.name, item.value);
    sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Sha256 sha;
    for (const auto& [name, value] : tensors) {
        torch::Tensor tensor = value.detach().to(torch::kCPU).contiguous();
        string shape;
        for (int64_t d = 0; d < tensor.dim(); d++)
            shape += (d > 0 ? "," : "") + to_string(tensor.size(d));
        string header = name + '\0' + dtypeName(tensor.scalar_type()) + '\0' + shape + '\0';
        uint64_t size = tensor.numel()*tensor.element_size();
        uint8_t length[8];
        for (int i = 0; i < 8; i++)
            length[i] = (uint8_t) (size >> (8*i));
        sha.update(header.data(), header.size());
        sha.update(length, 8);
        if (size > 0)
            sha.update(tensor.data_ptr(), size);
    }
    return sha.hexDigest();
}

/**
 * The raw value of a top-level key of the export's metadata.json (a string without its quotes,
 * or a number or literal), or "" when the key is absent. The keys read here are unique names.
 */
string metadataValue(const string& json, const string& key) {
    size_t at = json.find("\"" + key + "\"");
    if (at == string::npos)
        return "";
    at = json.find(':', at+key.size()+2);
    if (at == string::npos)
        return "";
    at = json.find_first_not_of(" \t\r\n", at+1);
    if (at == string::npos)
        return "";
    if (json[at] == '"') {
        size_t end = json.find('"', at+1);
        return end == string::npos ? "" : json.substr(at+1, end-at-1);
    }
    size_t end = json.find_first_of(",}] \t\r\n", at);
    return json.substr(at, end == string::npos ? string::npos : end-at);
}

/**
 * Refuse an export from a newer openmm-sog or whose weights differ from its recorded checksum.
 * `file` names the model in messages: its path in quotes, or "the given model bytes".
 * Files without metadata or without format_version (format 0) are accepted unchecked, as before.
 */
void checkFormatVersion(const string& version, const string& file) {
    long long found;
    try {
        found = stoll(version);
    }
    catch (const exception&) {
        throw OpenMMException("TorchSOGForce: " + file + " has an invalid format_version " + version);
    }
    if (found > EXPORT_FORMAT_VERSION)
        throw OpenMMException("TorchSOGForce: " + file + " has export format_version " + version + ", newer than the " +
                to_string(EXPORT_FORMAT_VERSION) + " this plugin reads; upgrade openmm-sog to run it");
}

void checkExport(const torch::jit::Module& module, const string& metadata, const string& file) {
    string version = metadataValue(metadata, "format_version");
    if (version.empty() || version == "null")
        return;
    checkFormatVersion(version, file);
    string recorded = metadataValue(metadata, "weights_sha256");
    string actual = weightsDigest(module);
    if (recorded != actual)
        throw OpenMMException("TorchSOGForce: " + file + ": export checksum mismatch: the file is corrupted (the SHA-256 "
                "of its weights is " + actual + ", it was written with " + (recorded.empty() ? "none" : recorded) +
                "); restore it from a good copy or export it again with `sognet export`");
}

/**
 * SHA-256 of a compiled package's entries but its metadata.json, in name order: per entry the name,
 * a NUL, the size (uint64 little-endian) and the bytes, as openmm_sog.training.compiled_export.package_digest.
 */
string packageDigest(const string& bytes, const string& file) {
    vector<pair<string, string> > entries = readZipEntries(bytes, file);
    sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    const string metadataName = "/extra/metadata.json";
    Sha256 sha;
    for (const auto& [name, contents] : entries) {
        if (name.size() >= metadataName.size() && name.compare(name.size()-metadataName.size(), metadataName.size(), metadataName) == 0)
            continue;
        uint64_t size = contents.size();
        uint8_t length[8];
        for (int i = 0; i < 8; i++)
            length[i] = (uint8_t) (size >> (8*i));
        sha.update(name.data(), name.size());
        sha.update("", 1);
        sha.update(length, 8);
        sha.update(contents.data(), contents.size());
    }
    return sha.hexDigest();
}

/**
 * The first two particles closer than COINCIDENT_DISTANCE (periodic minimum image in OpenMM's reduced
 * box when `box` is not null), or (-1, -1). O(N^2), only to explain a failed evaluation.
 */
pair<int, int> coincidentAtoms(const vector<Vec3>& positions, const Vec3* box) {
    int n = positions.size();
    for (int i = 0; i < n; i++)
        for (int j = i+1; j < n; j++) {
            Vec3 delta = positions[i]-positions[j];
            if (box != nullptr) {
                delta -= box[2]*round(delta[2]/box[2][2]);
                delta -= box[1]*round(delta[1]/box[1][1]);
                delta -= box[0]*round(delta[0]/box[0][0]);
            }
            if (delta.dot(delta) < COINCIDENT_DISTANCE*COINCIDENT_DISTANCE)
                return {i, j};
        }
    return {-1, -1};
}

/**
 * Throw the error of a model that failed or returned non-finite values, naming coincident atoms (by
 * their System indices) if they are the cause.
 */
[[noreturn]] void modelFailure(const vector<Vec3>& positions, const Vec3* box, const vector<int>& region,
        const string& what) {
    auto [i, j] = coincidentAtoms(positions, box);
    if (i >= 0)
        throw OpenMMException("TorchSOGForce: atoms " + to_string(region[i]) + " and " + to_string(region[j]) + " are at "
                "the same position (closer than 1e-6 nm), where the model is not defined; check the initial positions "
                "(duplicated atoms?)");
    throw OpenMMException("TorchSOGForce: " + what);
}

} // namespace

/*
 * libtorch allocates and frees the model's large temporaries (per neighbour pair and feature:
 * tens of MB at 24,000 atoms) on every evaluation. glibc serves blocks above its mmap threshold
 * (at most 32 MB) with fresh mmap()s and returns them on free, so the kernel zeroes new pages
 * every time: measured, more than half of a 24,000-ion evaluation on the CPU (0.88-1.3 s instead
 * of 0.42 s). Once per process, this keeps freed memory for reuse: no mmap() for large blocks
 * and no trimming of the heap below 2 GB of free space at its top. The process then holds its
 * peak memory. OPENMM_SOG_MALLOC_DEFAULTS=1 in the environment keeps glibc's defaults.
 */
static void keepFreedMemoryForReuse() {
#if defined(__GLIBC__) && defined(M_MMAP_MAX) && defined(M_TRIM_THRESHOLD)
    static const bool done = [] {
        const char* keepDefaults = getenv("OPENMM_SOG_MALLOC_DEFAULTS");
        if (keepDefaults != nullptr && string(keepDefaults) == "1")
            return false;
        mallopt(M_MMAP_MAX, 0);
        mallopt(M_TRIM_THRESHOLD, numeric_limits<int>::max());
        return true;
    }();
    (void) done;
#endif
}

SOGTorchModel::SOGTorchModel(const TorchSOGForce& force, int numSystemParticles) : numParticles(force.getNumParticles()),
        numChannels(force.getNumChannels()), periodic(force.usesPeriodicBoundaryConditions()),
        hasChargeScale(!force.getChargeScaleParameterName().empty()),
        region(TorchSOGForceImpl::getRegion(force, numSystemParticles)) {
    keepFreedMemoryForReuse();
    // The model is loaded from the force's bytes (the file is not read again), metadata.json included.
    const string file = force.getFile().empty() ? "the given model bytes" : "'" + force.getFile() + "'";
    vector<int64_t> numbers(force.getAtomicNumbers().begin(), force.getAtomicNumbers().end());
    atomicNumbers = torch::tensor(numbers, torch::kInt64);
    vector<bool> mask = TorchSOGForceImpl::getChargeScaledMask(force, region);
    scaledMask = torch::zeros({numParticles}, torch::kBool);
    for (int k = 0; k < numParticles; k++)
        if (mask[k])
            scaledMask[k] = true;
    regionPositions.resize(numParticles);
    if (force.getModelBytes().compare(0, 4, "PK\x03\x04") == 0) {
        SOGExportMetadata metadata = readExportMetadata(force.getModelBytes(), file);
        cutoffNm = metadata.cutoffNm;
        realSpaceGaussians.numChannels = metadata.numChannels;
        for (int c = 0; c < (int) metadata.weights.size(); c++)
            for (int l = 0; l < (int) metadata.weights[c].size(); l++)
                if (!metadata.kspace[c][l]) {
                    realSpaceGaussians.weights.push_back(metadata.weights[c][l]);
                    realSpaceGaussians.widths.push_back(metadata.widths[c][l]);
                    realSpaceGaussians.channels.push_back(c);
                }
        if (metadata.isCompiled()) {
            loadCompiled(force, metadata, file);
            return;
        }
    }
    torch::jit::ExtraFilesMap extraFiles{{"metadata.json", ""}};
    try {
        istringstream stream(force.getModelBytes(), ios::in | ios::binary);
        module = torch::jit::load(stream, torch::kCPU, extraFiles);
    }
    catch (const c10::Error& error) {
        throw OpenMMException("TorchSOGForce: cannot load " + file + " as a TorchScript model (write it with "
                "`sognet export`; its vesin neighbour list needs `import openmm_sog`, which imports vesin_torch, first): " +
                error.what_without_backtrace());
    }
    auto method = module.find_method("local_energy_and_charges");
    if (!method)
        throw OpenMMException("TorchSOGForce: the TorchScript module of " + file + " has no method local_energy_and_charges("
                "positions, atomic_numbers, cell, pbc) -> (energy, charges); write it with `sognet export`");
    // self, positions, atomic_numbers, cell, pbc[, charge_scale]
    if (hasChargeScale && method->function().getSchema().arguments().size() < 6)
        throw OpenMMException("TorchSOGForce: " + file + " predates charge scaling (its local_energy_and_charges takes no "
                "charge_scale); export the model again with this openmm-sog's `sognet export` to use a charge scale "
                "parameter");
    checkExport(module, extraFiles["metadata.json"], file);
    module.eval();
}

bool SOGTorchModel::leaveRealSpaceToCaller() {
    const char* method = "short_range_energy_and_charges";
    if (compiled || !periodic || realSpaceGaussians.getNumGaussians() == 0 || !(cutoffNm > 0.0) ||
            !module.find_method(method))
        return false;
    forwardMethod = method;
    return true;
}

void SOGTorchModel::loadCompiled(const TorchSOGForce& force, const SOGExportMetadata& metadata, const string& file) {
    const string& bytes = force.getModelBytes();
    if (metadata.formatVersion > 0)
        checkFormatVersion(to_string(metadata.formatVersion), file);
    string actual = packageDigest(bytes, file);
    if (metadata.packageSha256 != actual)
        throw OpenMMException("TorchSOGForce: " + file + ": package checksum mismatch: the file is corrupted (the SHA-256 "
                "of its entries is " + actual + ", it was written with " +
                (metadata.packageSha256.empty() ? string("none") : metadata.packageSha256) + "); restore it from a good copy "
                "or export it again with `sognet export --format aotinductor`");
    if (metadata.periodic != (periodic ? 1 : 0))
        throw OpenMMException(string("TorchSOGForce: ") + file + " was compiled for " + (metadata.periodic == 1 ?
                "periodic structures" : "free structures (no periodic box)") + ", but the force is " + (periodic ?
                "periodic" : "non-periodic") + "; export a package for this use with `sognet export --format aotinductor "
                "--periodic " + (periodic ? "true" : "false") + "`, or use the TorchScript export, which runs both");
    if (!(metadata.cutoffNm > 0.0))
        throw OpenMMException("TorchSOGForce: " + file + " records no cutoff_angstrom; export it again with `sognet export`");
    cutoffAngstrom = metadata.cutoffNm*ANGSTROM_PER_NM;
    // The loader reads a file: write the bytes to a private temporary one, removed once loaded.
    string path = (filesystem::temp_directory_path()/"openmm_sog_package_XXXXXX.pt2").string();
    vector<char> name(path.begin(), path.end());
    name.push_back('\0');
    int descriptor = mkstemps(name.data(), 4);
    if (descriptor < 0)
        throw OpenMMException("TorchSOGForce: cannot create a temporary file in " +
                filesystem::temp_directory_path().string() + " to load " + file + " (set TMPDIR to a writable folder)");
    close(descriptor);
    path = string(name.data());
    {
        ofstream out(path, ios::binary);
        out.write(bytes.data(), bytes.size());
        if (!out)
            throw OpenMMException("TorchSOGForce: cannot write a temporary copy of " + file + " to " + path);
    }
    try {
        forwardProgram = make_unique<torch::inductor::AOTIModelPackageLoader>(path, "local_forward");
        vjpProgram = make_unique<torch::inductor::AOTIModelPackageLoader>(path, "local_vjp");
    }
    catch (const exception& error) {
        remove(path.c_str());
        string what = error.what();
        throw OpenMMException("TorchSOGForce: cannot load " + file + " as an AOTInductor package (it must be compiled "
                "for the CPU by the torch version this plugin was built with; export it again with `sognet export --format aotinductor` on this installation): " + what.substr(0, what.find('\n')));
    }
    remove(path.c_str());
    compiled = true;
    hostAtomicNumbers = atomicNumbers;
    hostScaledMask = scaledMask;
}

void SOGTorchModel::setDevice(const torch::Device& target) {
    device = target;
    // A compiled package runs on the host; its inputs and outputs cross to the device.
    if (!compiled)
        module.to(device);
    atomicNumbers = atomicNumbers.to(device);
    scaledMask = scaledMask.to(device);
}

pair<torch::Tensor, torch::Tensor> SOGTorchModel::forward(const torch::Tensor& positionsAngstrom,
        const torch::Tensor& cellAngstrom, double lambda, bool includeForces) {
    if (compiled)
        return forwardCompiled(positionsAngstrom, cellAngstrom, lambda, includeForces);
    // Whatever the caller's thread had set, the forces need autograd.
    torch::AutoGradMode gradMode(true);
    torch::Tensor r = positionsAngstrom.detach().to(device, torch::kFloat64).requires_grad_(includeForces);
    torch::Tensor cell = (periodic ? cellAngstrom.to(device, torch::kFloat64) :
            torch::zeros({3, 3}, torch::TensorOptions().device(device).dtype(torch::kFloat64)));
    vector<c10::IValue> inputs{r, atomicNumbers, cell, periodic};
    torch::Tensor lambdaTensor;
    if (hasChargeScale) {
        // The charge scale enters the model as a differentiable input: backward gives dU/dlambda.
        auto options = torch::TensorOptions().device(device).dtype(torch::kFloat64);
        lambdaTensor = torch::full({}, lambda, options).requires_grad_(includeForces);
        inputs.push_back(torch::where(scaledMask, lambdaTensor, torch::ones({numParticles}, options)));
    }
    c10::IValue output = module.get_method(forwardMethod)(inputs);
    auto elements = output.toTuple()->elements();
    const bool withPairs = (forwardMethod != "local_energy_and_charges");
    if (elements.size() != (withPairs ? 5 : 2))
        throw OpenMMException("TorchSOGForce: " + forwardMethod + "() must return (energy, charges" +
                string(withPairs ? ", pair_i, pair_j, pair_vectors)" : ")"));
    if (withPairs) {
        // The pairs to the host once, each within the cutoff once: the caller sums the
        // real-space Gaussians over them.
        torch::Tensor first = elements[2].toTensor().to(torch::kCPU, torch::kInt64).contiguous();
        torch::Tensor second = elements[3].toTensor().to(torch::kCPU, torch::kInt64).contiguous();
        torch::Tensor vectors = elements[4].toTensor().detach().to(torch::kCPU).contiguous();
        if (vectors.scalar_type() != torch::kFloat32)
            vectors = vectors.to(torch::kFloat64);
        const int64_t numPairs = first.numel();
        if (second.numel() != numPairs || vectors.numel() != 3*numPairs)
            throw OpenMMException("TorchSOGForce: " + forwardMethod + "() returned pair arrays of different lengths");
        if (vectors.scalar_type() == torch::kFloat32)
            selectPairs(first.data_ptr<int64_t>(), second.data_ptr<int64_t>(), vectors.data_ptr<float>(), numPairs,
                    numParticles, ANGSTROM_PER_NM, cutoffNm, pairs);
        else
            selectPairs(first.data_ptr<int64_t>(), second.data_ptr<int64_t>(), vectors.data_ptr<double>(), numPairs,
                    numParticles, ANGSTROM_PER_NM, cutoffNm, pairs);
    }
    torch::Tensor localEnergy = elements[0].toTensor().sum();  // eV
    torch::Tensor modelCharges = elements[1].toTensor();       // [N, P] e
    if (modelCharges.dim() != 2 || modelCharges.size(0) != numParticles || modelCharges.size(1) != numChannels)
        throw OpenMMException("TorchSOGForce: the model returned charges of shape " + c10::str(modelCharges.sizes()) +
                " but the force expects [" + to_string(numParticles) + ", " + to_string(numChannels) + "]");
    if (includeForces) {
        positions = r;
        energy = localEnergy;
        charges = modelCharges;
        chargeScale = lambdaTensor;
    }
    return {localEnergy, modelCharges};
}

pair<torch::Tensor, torch::Tensor> SOGTorchModel::forwardCompiled(const torch::Tensor& positionsAngstrom,
        const torch::Tensor& cellAngstrom, double lambda, bool includeForces) {
    torch::NoGradGuard noGrad;
    auto options = torch::TensorOptions().dtype(torch::kFloat64);
    torch::Tensor r = positionsAngstrom.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    torch::Tensor cell = (periodic ? cellAngstrom.detach().to(torch::kCPU, torch::kFloat64).contiguous() :
            torch::zeros({3, 3}, options));
    vector<double> coordinates(r.data_ptr<double>(), r.data_ptr<double>()+3*numParticles);
    SOGNeighborPairs pairs;
    findNeighborPairs(coordinates, periodic ? cell.data_ptr<double>() : nullptr, cutoffAngstrom, pairs);
    const int64_t numPairs = pairs.size();
    auto longOptions = torch::TensorOptions().dtype(torch::kInt64);
    torch::Tensor first = torch::from_blob(pairs.first.data(), {numPairs}, longOptions).clone();
    torch::Tensor second = torch::from_blob(pairs.second.data(), {numPairs}, longOptions).clone();
    torch::Tensor shifts = torch::from_blob(pairs.shifts.data(), {numPairs, 3}, longOptions).clone();
    torch::Tensor scale = torch::where(hostScaledMask, torch::full({}, hasChargeScale ? lambda : 1.0, options),
            torch::ones({numParticles}, options));
    vector<torch::Tensor> inputs{r, hostAtomicNumbers, cell, first, second, shifts, scale};
    vector<torch::Tensor> outputs;
    try {
        outputs = forwardProgram->run(inputs);
    }
    catch (const c10::Error&) {
        throw; // evaluate() names the cause (coincident atoms, for example)
    }
    catch (const exception& error) {
        throw OpenMMException(string("TorchSOGForce: the compiled local_forward failed: ") + error.what());
    }
    if (outputs.size() != 2 || outputs[1].dim() != 2 || outputs[1].size(0) != numParticles || outputs[1].size(1) != numChannels)
        throw OpenMMException("TorchSOGForce: the compiled local_forward returned " + to_string(outputs.size()) +
                " outputs, not (energy [1], charges [" + to_string(numParticles) + ", " + to_string(numChannels) + "])");
    if (includeForces)
        compiledInputs = inputs;
    return {outputs[0].sum().to(device), outputs[1].to(device)};
}

pair<torch::Tensor, torch::Tensor> SOGTorchModel::backwardCompiled(const torch::Tensor& chargeGradient, double energyScale) {
    if (compiledInputs.empty())
        throw OpenMMException("TorchSOGForce: backward() without an evaluation with forces");
    torch::NoGradGuard noGrad;
    vector<torch::Tensor> inputs;
    inputs.swap(compiledInputs);
    // The objective s E_local + sum_kc q_kc D_kc in kJ/mol: E_local (eV) weighted by s kJ/mol/eV.
    inputs.push_back(torch::full({}, energyScale*KJ_PER_MOL_PER_EV, torch::TensorOptions().dtype(torch::kFloat64)));
    inputs.push_back(chargeGradient.detach().to(torch::kCPU, torch::kFloat64).contiguous());
    vector<torch::Tensor> outputs;
    try {
        outputs = vjpProgram->run(inputs);
    }
    catch (const exception& error) {
        throw OpenMMException(string("TorchSOGForce: the compiled local_vjp failed: ") + error.what());
    }
    // -d/dr in kJ/mol/nm (the positions are in Angstrom).
    torch::Tensor forces = (outputs[2]*(-ANGSTROM_PER_NM)).to(device);
    torch::Tensor lambdaGradient;
    if (hasChargeScale)
        lambdaGradient = torch::where(hostScaledMask, outputs[3], torch::zeros_like(outputs[3])).sum().to(device);
    return {forces, lambdaGradient};
}

pair<torch::Tensor, torch::Tensor> SOGTorchModel::backward(const torch::Tensor& chargeGradient, double energyScale) {
    if (compiled)
        return backwardCompiled(chargeGradient, energyScale);
    if (!positions.defined())
        throw OpenMMException("TorchSOGForce: backward() without an evaluation with forces");
    torch::AutoGradMode gradMode(true);
    // D = s dE_lr/dq (kJ/mol/e) enters as a constant: one backward pass gives s dE_local/dr and the
    // chain rule sum_kc D_kc dq_kc/dr together, and the same for the charge scale.
    torch::Tensor objective = energy*(energyScale*KJ_PER_MOL_PER_EV) +
            (charges*chargeGradient.detach().to(charges.device(), charges.scalar_type())).sum();
    vector<torch::Tensor> inputs{positions};
    if (chargeScale.defined())
        inputs.push_back(chargeScale);
    vector<torch::Tensor> gradients;
    try {
        gradients = torch::autograd::grad({objective}, inputs, {}, false, false, true);
    }
    catch (const c10::Error& error) {
        throw OpenMMException(string("TorchSOGForce: the model's backward pass failed: ") + error.what_without_backtrace());
    }
    // -d/dr in kJ/mol/nm (the positions are in Angstrom).
    torch::Tensor forces = (gradients[0].defined() ? gradients[0].to(torch::kFloat64)*(-ANGSTROM_PER_NM) :
            torch::zeros_like(positions));
    torch::Tensor lambdaGradient;
    if (chargeScale.defined())
        lambdaGradient = (gradients[1].defined() ? gradients[1] : torch::zeros_like(chargeScale));
    positions = torch::Tensor();
    energy = torch::Tensor();
    charges = torch::Tensor();
    chargeScale = torch::Tensor();
    return {forces, lambdaGradient};
}

double SOGTorchModel::evaluate(const vector<Vec3>& systemPositions, const Vec3* box, double lambda, bool includeForces,
        vector<double>& q) {
    torch::Tensor r = torch::empty({numParticles, 3}, torch::kFloat64);
    torch::Tensor cell = torch::zeros({3, 3}, torch::kFloat64);
    auto rAccess = r.accessor<double, 2>();
    for (int k = 0; k < numParticles; k++) {
        const Vec3& position = systemPositions[region[k]];
        regionPositions[k] = position;
        for (int d = 0; d < 3; d++) {
            if (!isfinite(position[d]))
                throw OpenMMException("TorchSOGForce: particle " + to_string(region[k]) + " has a non-finite position");
            rAccess[k][d] = position[d]*ANGSTROM_PER_NM;
        }
    }
    const Vec3* periodicBox = (periodic ? box : nullptr);
    if (periodic) {
        auto cellAccess = cell.accessor<double, 2>();
        for (int v = 0; v < 3; v++)
            for (int d = 0; d < 3; d++)
                cellAccess[v][d] = box[v][d]*ANGSTROM_PER_NM;
    }
    torch::Tensor localEnergy, modelCharges;
    try {
        tie(localEnergy, modelCharges) = forward(r, cell, lambda, includeForces);
    }
    catch (const c10::Error& error) {
        modelFailure(regionPositions, periodicBox, region, string("the model failed: ") + error.what_without_backtrace());
    }
    torch::Tensor hostCharges = modelCharges.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    q.assign(hostCharges.data_ptr<double>(), hostCharges.data_ptr<double>() + numParticles*numChannels);
    for (double value : q)
        if (!isfinite(value))
            modelFailure(regionPositions, periodicBox, region, "the model returned a non-finite charge");
    double energyKJ = localEnergy.item<double>()*KJ_PER_MOL_PER_EV;
    if (!isfinite(energyKJ))
        modelFailure(regionPositions, periodicBox, region, "the model returned a non-finite energy");
    return energyKJ;
}

double SOGTorchModel::backward(const vector<double>& chargeDerivatives, double energyScale, vector<double>& forces) {
    vector<double> copy(chargeDerivatives);
    torch::Tensor chargeGradient = torch::from_blob(copy.data(), {numParticles, numChannels}, torch::kFloat64);
    auto [regionForces, lambdaGradient] = backward(chargeGradient, energyScale);
    torch::Tensor hostForces = regionForces.to(torch::kCPU).contiguous();
    forces.assign(hostForces.data_ptr<double>(), hostForces.data_ptr<double>() + 3*numParticles);
    return (lambdaGradient.defined() ? lambdaGradient.item<double>() : 0.0);
}
