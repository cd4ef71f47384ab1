#ifndef OPENMM_SOGEXPORTMETADATA_H_
#define OPENMM_SOGEXPORTMETADATA_H_

#include "internal/windowsExportSOG.h"
#include <string>
#include <utility>
#include <vector>

namespace SOGPlugin {

/**
 * The bytes of the first entry of a zip archive whose name ends with nameSuffix, or "" when the
 * archive has none. This reads the metadata of a TorchScript file (PyTorch's
 * PyTorchStreamWriter writes a zip archive) without libtorch, so the API library can use it.
 * Only stored (uncompressed) entries can be read: PyTorch stores its data and extra files, and
 * deflates only its code files. Zip64 records are followed; the entry's CRC-32 is checked.
 *
 * @param archiveBytes  the whole archive
 * @param nameSuffix    the end of the entry's name, for example "/extra/metadata.json"
 * @param source        names the archive in messages, for example "'model.pt'" or "the given model bytes"
 * @throws OpenMMException with a message starting "TorchSOGForce: " when the archive is not a zip
 *         archive, is truncated or corrupt, or the entry is compressed or encrypted
 */
OPENMM_EXPORT_SOG std::string readZipEntry(const std::string& archiveBytes, const std::string& nameSuffix,
        const std::string& source = "the model");

/**
 * Every stored entry of a zip archive as (name, contents), in archive order (directories left
 * out); the same checks and errors as readZipEntry(), which a compressed entry fails.
 */
OPENMM_EXPORT_SOG std::vector<std::pair<std::string, std::string> > readZipEntries(const std::string& archiveBytes,
        const std::string& source = "the model");

/**
 * A JSON value (RFC 8259, plus NaN, Infinity and -Infinity, which Python's json module writes for
 * non-finite floats), as parsed by parseJson().
 */
class OPENMM_EXPORT_SOG SOGJsonValue {
public:
    enum Type {Null, Bool, Number, String, Array, Object};
    SOGJsonValue() : type(Null), boolean(false), number(0.0) {
    }
    Type type;
    bool boolean;                         // the value of a Bool
    double number;                        // the value of a Number
    std::string text;                     // the value of a String (UTF-8)
    std::vector<SOGJsonValue> elements;   // the elements of an Array, or the members of an Object
    std::vector<std::string> keys;        // the keys of an Object's members, in order
    /**
     * The member of an Object with a key, or nullptr when it has none (or this is not an Object).
     * With repeated keys the last one counts, as in Python's json module.
     */
    const SOGJsonValue* find(const std::string& key) const;
};

/**
 * Parse a JSON document. Arrays and objects may be nested at most 64 deep, so that hostile input
 * cannot exhaust the stack.
 *
 * @param text  the document
 * @param what  names the document in messages, for example "the metadata.json of 'model.pt'"
 * @throws OpenMMException "TorchSOGForce: <what> is not valid JSON at offset N (reason)"
 */
OPENMM_EXPORT_SOG SOGJsonValue parseJson(const std::string& text, const std::string& what);

/**
 * What TorchSOGForce needs from the metadata.json of a SOG-Net export
 * (openmm_sog.training.export.export_metadata()), in OpenMM's units.
 */
struct OPENMM_EXPORT_SOG SOGExportMetadata {
    // "format" of an AOTInductor package (openmm_sog.training.compiled_export.COMPILED_FORMAT)
    static constexpr const char* COMPILED_FORMAT = "openmm-sog SOG-Net AOTInductor v1";
    bool isCompiled() const {
        return format == COMPILED_FORMAT;
    }
    SOGExportMetadata() : present(false), formatVersion(0), periodic(-1), cutoffNm(0.0), longRange(false),
            numChannels(0), tolerance(0.0) {
    }
    bool present;                                // false for a file without metadata.json (old exports)
    std::string format;                          // "format", "" when absent
    int formatVersion;                           // "format_version", 0 when absent or null
    int periodic;                                // "periodic": 1 true, 0 false, -1 null or absent (not recorded)
    double cutoffNm;                             // "cutoff_angstrom" / 10 (nm), 0 when absent
    std::vector<int> atomicNumbers;              // "atomic_numbers": the model's species
    bool longRange;                              // "long_range" (whether "sog" is present when absent)
    int numChannels;                             // "num_channels" (P; 0 for a short-range model)
    double tolerance;                            // "sog.tolerance" (dimensionless), 0 without "sog"
    std::vector<std::vector<double> > weights;   // [P][L_c] "sog.weights_kj_per_mol_per_e2" (kJ/mol/e^2)
    std::vector<std::vector<double> > widths;    // [P][L_c] "sog.widths_nm" (nm)
    std::vector<std::vector<bool> > kspace;      // [P][L_c] "sog.kspace": Gaussian in the k-space sum (all true when absent)
    std::string weightsSha256;                   // "weights_sha256" (hex), "" when absent
    std::string packageSha256;                   // "package_sha256" (hex) of a compiled package, "" when absent
    std::string lengthUnit, energyUnit, chargeUnit; // "units": {"length", "energy", "charge"}, "" when absent
};

/**
 * Read and check the metadata.json of a SOG-Net export: the archive entry whose name ends in
 * "/extra/metadata.json". A file without one (or with an empty one) gives present = false.
 *
 * @param modelBytes  the contents of the exported TorchScript file
 * @param source      names the model in messages, for example "'model.pt'" or "the given model bytes"
 * @throws OpenMMException with a message starting "TorchSOGForce: " for a damaged archive, a
 *         metadata.json that is not valid JSON, or a key of the wrong type or with inconsistent
 *         values (the message names the key)
 */
OPENMM_EXPORT_SOG SOGExportMetadata readExportMetadata(const std::string& modelBytes, const std::string& source);

} // namespace SOGPlugin

#endif /*OPENMM_SOGEXPORTMETADATA_H_*/
