/*
 * The libtorch-free reader of a SOG-Net export's metadata.json (internal/SOGExportMetadata.h).
 * Archives are written here, laid out as PyTorch's PyTorchStreamWriter writes them (local headers
 * without sizes, data descriptors, padding extra fields, zip64 end records), as Python's zipfile
 * writes them (no zip64), and with zip64 extra fields (entries past 4 GiB). Checked: values parsed
 * exactly, absent metadata, truncated and damaged archives, compressed entries, malformed JSON,
 * inconsistent Gaussians, hostile nesting. With SOG_TEST_EXPORT=path.pt a real export is read too
 * and its values printed (compare them with openmm_sog.training.export.export_metadata()).
 */
#include "internal/SOGExportMetadata.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// ---------------------------------------------------------------------------------------------
// A small zip writer (stored entries; "method" is only recorded, nothing is compressed).
// ---------------------------------------------------------------------------------------------

struct Entry {
    string name, data;
    int method;
};

enum Layout {PyTorch, PythonZipfile, Zip64Extra};

static uint32_t crc32(const string& data) {
    uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char byte : data) {
        crc ^= byte;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? 0xEDB88320u ^ (crc>>1) : crc>>1;
    }
    return crc ^ 0xFFFFFFFFu;
}

static void put(string& out, uint64_t value, int numBytes) {
    for (int i = 0; i < numBytes; i++)
        out += static_cast<char>((value>>(8*i)) & 0xFF);
}

static string makeZip(const vector<Entry>& entries, Layout layout = PyTorch) {
    string out, directory;
    for (const Entry& entry : entries) {
        uint64_t offset = out.size();
        bool descriptor = (layout != PythonZipfile);
        uint32_t crc = crc32(entry.data);
        // Local header: PyTorch leaves CRC and sizes to the data descriptor and pads to 64 bytes.
        string padding;
        if (layout != PythonZipfile) {
            size_t unpadded = offset+30+entry.name.size()+4;
            size_t length = (64-unpadded%64)%64;
            put(padding, 0x4246, 2);
            put(padding, length, 2);
            padding += string(length, 'Z');
        }
        put(out, 0x04034b50, 4);
        put(out, 20, 2);
        put(out, descriptor ? 0x0808 : 0, 2);
        put(out, entry.method, 2);
        put(out, 0, 4);
        put(out, descriptor ? 0 : crc, 4);
        put(out, descriptor ? 0 : entry.data.size(), 4);
        put(out, descriptor ? 0 : entry.data.size(), 4);
        put(out, entry.name.size(), 2);
        put(out, padding.size(), 2);
        out += entry.name + padding + entry.data;
        if (descriptor) {
            put(out, 0x08074b50, 4);
            put(out, crc, 4);
            put(out, entry.data.size(), 4);
            put(out, entry.data.size(), 4);
        }
        // Central directory entry; Zip64Extra moves sizes and offset into the zip64 extra field.
        bool extra = (layout == Zip64Extra);
        put(directory, 0x02014b50, 4);
        put(directory, 20, 2);
        put(directory, 45, 2);
        put(directory, descriptor ? 0x0808 : 0, 2);
        put(directory, entry.method, 2);
        put(directory, 0, 4);
        put(directory, crc, 4);
        put(directory, extra ? 0xFFFFFFFF : entry.data.size(), 4);
        put(directory, extra ? 0xFFFFFFFF : entry.data.size(), 4);
        put(directory, entry.name.size(), 2);
        put(directory, extra ? 4+4+24 : 0, 2);
        put(directory, 0, 2);
        put(directory, 0, 2);
        put(directory, 0, 2);
        put(directory, 0, 4);
        put(directory, extra ? 0xFFFFFFFF : offset, 4);
        directory += entry.name;
        if (extra) {
            put(directory, 0xCAFE, 2);   // an unknown field, which is skipped
            put(directory, 0, 2);
            put(directory, 0x0001, 2);
            put(directory, 24, 2);
            put(directory, entry.data.size(), 8);
            put(directory, entry.data.size(), 8);
            put(directory, offset, 8);
        }
    }
    uint64_t directoryOffset = out.size();
    out += directory;
    if (layout != PythonZipfile) {
        uint64_t record = out.size();
        put(out, 0x06064b50, 4);
        put(out, 44, 8);
        put(out, 0x031e, 2);
        put(out, 45, 2);
        put(out, 0, 4);
        put(out, 0, 4);
        put(out, entries.size(), 8);
        put(out, entries.size(), 8);
        put(out, directory.size(), 8);
        put(out, directoryOffset, 8);
        put(out, 0x07064b50, 4);
        put(out, 0, 4);
        put(out, record, 8);
        put(out, 1, 4);
    }
    bool saturated = (layout == Zip64Extra);
    put(out, 0x06054b50, 4);
    put(out, 0, 2);
    put(out, 0, 2);
    put(out, saturated ? 0xFFFF : entries.size(), 2);
    put(out, saturated ? 0xFFFF : entries.size(), 2);
    put(out, saturated ? 0xFFFFFFFF : directory.size(), 4);
    put(out, saturated ? 0xFFFFFFFF : directoryOffset, 4);
    put(out, 0, 2);
    return out;
}

/**
 * An export-like archive: a few other entries (one deflated, as PyTorch deflates code files),
 * then metadata.json.
 */
static string makeExport(const string& json, Layout layout = PyTorch, int method = 0) {
    vector<Entry> entries = {
        {"archive/data.pkl", string("\x80\x02}q\x00.", 6), 0},
        {"archive/code/__torch__/model.py", "not really deflated", 8},
        {"archive/data/0", string(100, '\0'), 0},
        {"archive/extra/metadata.json", json, method},
        {"archive/version", "3\n", 0}};
    return makeZip(entries, layout);
}

static void assertThrows(const string& modelBytes, const vector<string>& expected) {
    try {
        readExportMetadata(modelBytes, "'test.pt'");
    }
    catch (const OpenMMException& e) {
        string message = e.what();
        if (message.rfind("TorchSOGForce: ", 0) != 0)
            throwException(__FILE__, __LINE__, "message does not start with \"TorchSOGForce: \": " + message);
        for (const string& part : expected)
            if (message.find(part) == string::npos)
                throwException(__FILE__, __LINE__, "expected \"" + part + "\" in the message: " + message);
        return;
    }
    throwException(__FILE__, __LINE__, "no exception; expected one with \"" + expected[0] + "\"");
}

static void assertJsonThrows(const string& json, const vector<string>& expected) {
    assertThrows(makeExport(json), expected);
}

// Every number below is written as Python's repr() writes it; from_chars must give the same double.
const string VALID = R"JSON({"format": "openmm-sog SOG-Net TorchScript v1", "format_version": 1,
  "openmm_sog_version": "0.1.0", "periodic": false,
  "units": {"length": "Angstrom", "energy": "eV", "charge": "e", "forces": "eV/Angstrom"},
  "openmm_conversion": {"nm_per_angstrom": 0.1, "kj_per_mol_per_ev": 96.48533212331002, "note": "a \"quoted\" \\ \/ \u00e9 \ud83d\ude00 \n"},
  "cutoff_angstrom": 5.0, "atomic_numbers": [11, 17, 1], "long_range": true, "num_channels": 2,
  "sog": {"formula": "g_c(r) = sum_l w_{c,l} exp(-r^2 / sigma_{c,l}^2)",
          "weights_ev_per_e2": [[1.0], [2.0]],
          "weights_kj_per_mol_per_e2": [[541.0469361621138, -0.4721142998858675, 1E+2], [2.5e-3, -0.0]],
          "widths_nm": [[0.09843578934669495, 1158.52353515625, 3.2], [1e-300, 6.4]],
          "tolerance": 1e-05, "kspace": [[false, true, true], [true, false]],
          "real_space_width_angstrom": 1.0, "extra": [{}, [], null, {"nested": [[[]]]}]},
  "weights_sha256": "278f3524a361a20ac836cc821f536d1570df45ce2d3093492740d189c23b6fd8"}
)JSON";

static void checkValid(const SOGExportMetadata& m) {
    ASSERT(m.present);
    ASSERT_EQUAL("openmm-sog SOG-Net TorchScript v1", m.format);
    ASSERT_EQUAL(1, m.formatVersion);
    ASSERT_EQUAL(0, m.periodic);
    ASSERT_EQUAL(0.5, m.cutoffNm);
    ASSERT_EQUAL_CONTAINERS(vector<int>({11, 17, 1}), m.atomicNumbers);
    ASSERT(m.longRange);
    ASSERT_EQUAL(2, m.numChannels);
    ASSERT_EQUAL(1e-05, m.tolerance);
    ASSERT_EQUAL(2, (int) m.weights.size());
    ASSERT_EQUAL_CONTAINERS(vector<double>({541.0469361621138, -0.4721142998858675, 100.0}), m.weights[0]);
    ASSERT_EQUAL_CONTAINERS(vector<double>({2.5e-3, 0.0}), m.weights[1]);
    ASSERT(signbit(m.weights[1][1]));
    ASSERT_EQUAL_CONTAINERS(vector<double>({0.09843578934669495, 1158.52353515625, 3.2}), m.widths[0]);
    ASSERT_EQUAL_CONTAINERS(vector<double>({1e-300, 6.4}), m.widths[1]);
    ASSERT(m.kspace == vector<vector<bool> >({{false, true, true}, {true, false}}));
    ASSERT_EQUAL("278f3524a361a20ac836cc821f536d1570df45ce2d3093492740d189c23b6fd8", m.weightsSha256);
}

static void testValidMetadata() {
    for (Layout layout : {PyTorch, PythonZipfile, Zip64Extra}) {
        string archive = makeExport(VALID, layout);
        ASSERT_EQUAL(VALID, readZipEntry(archive, "/extra/metadata.json", "'test.pt'"));
        checkValid(readExportMetadata(archive, "'test.pt'"));
    }
    // Other entries are found too; a deflated entry that is not asked for does no harm.
    string archive = makeExport(VALID);
    ASSERT_EQUAL("3\n", readZipEntry(archive, "/version"));
    ASSERT_EQUAL("", readZipEntry(archive, "/extra/other.json"));

    // Escapes, UTF-8 and the last of repeated keys (as Python's json module).
    SOGJsonValue root = parseJson(VALID, "test");
    ASSERT_EQUAL("a \"quoted\" \\ / \xc3\xa9 \xf0\x9f\x98\x80 \n", root.find("openmm_conversion")->find("note")->text);
    ASSERT_EQUAL(2.0, parseJson(R"({"a": 1, "a": 2})", "test").find("a")->number);
    ASSERT(parseJson("[1]", "test").find("a") == nullptr);
    ASSERT_EQUAL("\xef\xbf\xbd", parseJson(R"("\ud800")", "test").text);
    // Out of range numbers become what Python makes of them; weights must then be finite.
    ASSERT_EQUAL(numeric_limits<double>::infinity(), parseJson("1e400", "test").number);
    ASSERT_EQUAL(-numeric_limits<double>::infinity(), parseJson("-123456e99999999999", "test").number);
    ASSERT_EQUAL(0.0, parseJson("1e-400", "test").number);
    ASSERT_EQUAL(0.0, parseJson("0.000001e-399", "test").number);
    ASSERT(isnan(parseJson(" NaN ", "test").number));
}

static void testShortRangeMetadata() {
    // As export_metadata() writes a model without long range; format 0 has no format_version.
    string json = R"({"format": "openmm-sog SOG-Net TorchScript v1", "periodic": null, "cutoff_angstrom": 4.5,
        "atomic_numbers": [3], "long_range": false, "num_channels": 0})";
    SOGExportMetadata m = readExportMetadata(makeExport(json), "'test.pt'");
    ASSERT(m.present);
    ASSERT_EQUAL(0, m.formatVersion);
    ASSERT_EQUAL(-1, m.periodic);
    ASSERT_EQUAL(0.45, m.cutoffNm);
    ASSERT(!m.longRange);
    ASSERT_EQUAL(0, m.numChannels);
    ASSERT_EQUAL(0.0, m.tolerance);
    ASSERT(m.weights.empty() && m.widths.empty() && m.kspace.empty());
    ASSERT_EQUAL("", m.weightsSha256);

    // Without "kspace" (older exports) every Gaussian is in the k-space sum; without
    // "num_channels" and "long_range" they follow from "sog".
    json = R"({"periodic": true, "sog": {"weights_kj_per_mol_per_e2": [[1, 2]], "widths_nm": [[0.1, 0.2]], "tolerance": 0.001}})";
    m = readExportMetadata(makeExport(json), "'test.pt'");
    ASSERT_EQUAL(1, m.periodic);
    ASSERT(m.longRange);
    ASSERT_EQUAL(1, m.numChannels);
    ASSERT(m.kspace == vector<vector<bool> >({{true, true}}));
    ASSERT_EQUAL(0.0, m.cutoffNm);
}

static void testAbsentMetadata() {
    vector<Entry> entries = {{"archive/data.pkl", "x", 0}, {"archive/version", "3\n", 0}};
    for (Layout layout : {PyTorch, PythonZipfile, Zip64Extra}) {
        SOGExportMetadata m = readExportMetadata(makeZip(entries, layout), "'test.pt'");
        ASSERT(!m.present);
        ASSERT_EQUAL(0, m.formatVersion);
        ASSERT_EQUAL(-1, m.periodic);
        ASSERT_EQUAL(0, m.numChannels);
    }
    ASSERT(!readExportMetadata(makeZip({}), "'test.pt'").present);
    ASSERT(!readExportMetadata(makeExport(""), "'test.pt'").present);
}

static void testDamagedArchives() {
    // Not a zip archive at all.
    assertThrows("", {"'test.pt' is not a valid zip archive", "only 0 bytes"});
    assertThrows("PK\3\4 not an archive at all, just text", {"no end-of-central-directory record"});
    // Every truncation of an export is refused (its end records are gone), in every layout.
    for (Layout layout : {PyTorch, PythonZipfile, Zip64Extra}) {
        string archive = makeExport(VALID, layout);
        for (size_t length = 0; length < archive.size(); length++)
            assertThrows(archive.substr(0, length), {"is not a valid zip archive"});
    }
    // A changed byte of metadata.json fails its CRC-32.
    string archive = makeExport(VALID);
    size_t at = archive.find("cutoff_angstrom");
    archive[at] = 'C';
    assertThrows(archive, {"'archive/extra/metadata.json' fails its CRC-32 check"});
    // A central directory that points outside the file, or at no local header.
    archive = makeExport(VALID, PythonZipfile);
    size_t end = archive.size()-22;
    archive[end+16] = '\xff';
    archive[end+17] = '\xff';
    assertThrows(archive, {"the central directory (offset"});
    archive = makeExport(VALID, PythonZipfile);
    size_t entry = archive.find(string("PK\1\2", 4));
    entry = archive.find(string("PK\1\2", 4), entry+1);
    entry = archive.find(string("PK\1\2", 4), entry+1);
    entry = archive.find(string("PK\1\2", 4), entry+1);   // metadata.json's
    archive[entry+42] += 1;
    assertThrows(archive, {"no local header of entry 'archive/extra/metadata.json'"});
    // Saturated 32-bit fields without zip64 records.
    archive = makeExport(VALID, Zip64Extra);
    size_t locator = archive.size()-22-20;
    archive.erase(locator-56, 56+20);
    assertThrows(archive, {"needs zip64 records, which are missing"});
    // Changing any byte of an archive gives a result or a TorchSOGForce message, nothing else.
    for (Layout layout : {PyTorch, Zip64Extra}) {
        string good = makeExport(VALID, layout);
        for (size_t i = 0; i < good.size(); i++)
            for (unsigned char flip : {0x01, 0x80, 0xff}) {
                string damaged = good;
                damaged[i] = static_cast<char>(damaged[i] ^ flip);
                try {
                    readExportMetadata(damaged, "'test.pt'");
                }
                catch (const OpenMMException& e) {
                    ASSERT(string(e.what()).rfind("TorchSOGForce: ", 0) == 0);
                }
            }
    }
}

static void testCompressedEntryIsRefused() {
    assertThrows(makeExport(VALID, PyTorch, 8),
            {"'test.pt': the zip entry 'archive/extra/metadata.json' is compressed (method 8, deflate)", "stored"});
    assertThrows(makeExport(VALID, PythonZipfile, 12), {"is compressed (method 12)"});
    // Encrypted (flag bit 0).
    string archive = makeExport(VALID, PythonZipfile);
    size_t entry = archive.find(string("PK\1\2", 4));
    for (int i = 0; i < 3; i++)
        entry = archive.find(string("PK\1\2", 4), entry+1);
    archive[entry+8] |= 1;
    assertThrows(archive, {"is encrypted"});
}

static void testMalformedJson() {
    assertJsonThrows(R"({"a": 1,})", {"the metadata.json of 'test.pt' is not valid JSON at offset 8 (expected a string key)"});
    assertJsonThrows("{\"a\": [1, 2}", {"not valid JSON at offset 11 (expected ',' or ']')"});
    assertJsonThrows("{\"a\": 01}", {"at offset 6 (a number with a leading zero)"});
    vector<string> bad = {"{", "}", "[", "{\"a\" 1}", "{\"a\": }", "{1: 2}", "[1,]", "[1 2]", "{\"a\": tru}",
            "{\"a\": nul}", "\"abc", "\"\\q\"", "\"\\u12g4\"", "\"\\u12\"", "\"a\x01\"", "1.", "-", ".5", "1e", "+1",
            "[] []", "{\"a\": 1} x", "'a'", "[Infinit]", "[-NaN]", " ", "\xef\xbb\xbf{}"};
    for (const string& json : bad)
        assertJsonThrows(json, {"the metadata.json of 'test.pt' is not valid JSON at offset"});
    // Valid JSON that is not an object.
    assertJsonThrows("[1, 2]", {"holds an array, not an object"});
}

static string replaced(const string& text, const string& from, const string& to) {
    size_t at = text.find(from);
    if (at == string::npos)
        throwException(__FILE__, __LINE__, "test error: no \"" + from + "\"");
    return text.substr(0, at) + to + text.substr(at+from.size());
}

static void testInconsistentMetadata() {
    vector<pair<pair<string, string>, vector<string> > > cases = {
        {{"\"num_channels\": 2", "\"num_channels\": 3"}, {"sog.weights_kj_per_mol_per_e2 for 2 channels, but num_channels is 3"}},
        {{"\"widths_nm\": [[0.09843578934669495, 1158.52353515625, 3.2], [1e-300, 6.4]]", "\"widths_nm\": [[0.1, 0.2, 0.3]]"},
                {"sog.widths_nm for 1 channels, but num_channels is 2"}},
        {{"[1e-300, 6.4]", "[1e-300]"}, {"sog.widths_nm[1] with 1 widths for 2 weights in sog.weights_kj_per_mol_per_e2[1]"}},
        {{"[true, false]]", "[true]]"}, {"sog.kspace[1] with 1 flags for 2 weights"}},
        {{"[1e-300, 6.4]", "[1e-300, 0]"}, {"sog.widths_nm[1][1] = 0, which must be positive"}},
        {{"[1e-300, 6.4]", "[-1e-300, 6.4]"}, {"sog.widths_nm[1][0] = -", "which must be positive"}},
        {{"[1e-300, 6.4]", "[1e-300, Infinity]"}, {"sog.widths_nm[1][1] = inf, not a finite number"}},
        {{"2.5e-3, -0.0", "NaN, -0.0"}, {"sog.weights_kj_per_mol_per_e2[1][0] = nan, not a finite number"}},
        {{"2.5e-3, -0.0", "1e400, -0.0"}, {"sog.weights_kj_per_mol_per_e2[1][0] = inf, not a finite number"}},
        {{"2.5e-3, -0.0", "\"2.5e-3\", -0.0"}, {"sog.weights_kj_per_mol_per_e2[1][0] = a string, not a number"}},
        {{"[[541.0469361621138, -0.4721142998858675, 1E+2], [2.5e-3, -0.0]]", "[[1, 2, 3], []]"},
                {"sog.weights_kj_per_mol_per_e2[1] = [], with no Gaussians"}},
        {{"[[false, true, true]", "[[false, 1, true]"}, {"sog.kspace[0][1] = 1, not true or false"}},
        {{"\"kspace\": [[false, true, true], [true, false]]", "\"kspace\": 3"}, {"sog.kspace = 3, not an array"}},
        {{"\"widths_nm\"", "\"widths_angstrom\""}, {"has no sog.widths_nm"}},
        {{"\"tolerance\": 1e-05", "\"tol\": 1e-05"}, {"has no sog.tolerance"}},
        {{"\"tolerance\": 1e-05", "\"tolerance\": -Infinity"}, {"sog.tolerance = -inf, not a finite number"}},
        {{"\"tolerance\": 1e-05", "\"tolerance\": 0"}, {"sog.tolerance = 0, which must be positive"}},
        {{"\"long_range\": true", "\"long_range\": false"}, {"long_range = false but a sog"}},
        {{"\"long_range\": true", "\"long_range\": 1"}, {"long_range = 1, not true or false"}},
        {{"\"num_channels\": 2", "\"num_channels\": 2.5"}, {"num_channels = 2.5, not an integer"}},
        {{"\"num_channels\": 2", "\"num_channels\": -2"}, {"num_channels = -2, outside 0.."}},
        {{"\"format_version\": 1", "\"format_version\": \"1\""}, {"format_version = a string, not an integer"}},
        {{"\"format_version\": 1", "\"format_version\": 1e10"}, {"format_version = 10000000000, outside 0..2147483647"}},
        {{"\"format_version\": 1", "\"format_version\": -1"}, {"format_version = -1, outside"}},
        {{"\"periodic\": false", "\"periodic\": \"yes\""}, {"periodic = a string, not true or false"}},
        {{"\"cutoff_angstrom\": 5.0", "\"cutoff_angstrom\": -5"}, {"cutoff_angstrom = -5, which must be positive"}},
        {{"\"cutoff_angstrom\": 5.0", "\"cutoff_angstrom\": null"}, {"cutoff_angstrom = null, not a number"}},
        {{"[11, 17, 1]", "[11, 0]"}, {"atomic_numbers[1] = 0, outside 1..118"}},
        {{"[11, 17, 1]", "[11, 17.5]"}, {"atomic_numbers[1] = 17.5, not an integer"}},
        {{"[11, 17, 1]", "{}"}, {"atomic_numbers = an object, not an array"}},
        {{"\"weights_sha256\": \"", "\"weights_sha256\": 1, \"x\": \""}, {"weights_sha256 = 1, not a string"}},
        {{"\"format\": \"", "\"format\": [], \"x\": \""}, {"format = an array, not a string"}},
        {{"\"sog\": {", "\"sog\": [], \"x\": {"}, {"sog = an array, not an object"}},
    };
    for (const auto& test : cases) {
        vector<string> expected = test.second;
        expected.push_back("the metadata.json of 'test.pt' has ");
        assertThrows(makeExport(replaced(VALID, test.first.first, test.first.second)), expected);
    }
    // A long-range model without Gaussians; Gaussians in a model of no channels.
    string json = R"({"long_range": true, "num_channels": 1})";
    assertThrows(makeExport(json), {"long_range = true but no sog"});
    json = R"({"num_channels": 1})";
    assertThrows(makeExport(json), {"num_channels = 1 but no sog"});
    json = R"({"sog": {"weights_kj_per_mol_per_e2": [], "widths_nm": [], "tolerance": 0.001}})";
    assertThrows(makeExport(json), {"sog.weights_kj_per_mol_per_e2 = [], with no channels"});
}

static void testDeepNesting() {
    // 64 levels are read; a 65th, or a hostile million, are refused without exhausting the stack.
    string ok = string(64, '[') + string(64, ']');
    ASSERT(parseJson(ok, "test").type == SOGJsonValue::Array);
    string objects;
    for (int i = 0; i < 64; i++)
        objects += "{\"a\":";
    objects += "1" + string(64, '}');
    SOGJsonValue root = parseJson(objects, "test");
    const SOGJsonValue* value = &root;
    for (int i = 0; i < 64; i++)
        value = value->find("a");
    ASSERT_EQUAL(1.0, value->number);
    assertJsonThrows("{\"a\": " + string(64, '[') + string(64, ']') + "}",
            {"not valid JSON at offset 69 (arrays and objects nested deeper than 64 levels)"});
    assertJsonThrows(string(1000000, '['), {"nested deeper than 64 levels"});
    string deepObjects;
    for (int i = 0; i < 100000; i++)
        deepObjects += "{\"a\":";
    assertJsonThrows(deepObjects, {"nested deeper than 64 levels"});
}

static void printList(const char* name, const vector<double>& values) {
    cout << name << " [";
    for (size_t i = 0; i < values.size(); i++) {
        char text[40];
        snprintf(text, sizeof(text), "%.17g", values[i]);
        cout << (i > 0 ? ", " : "") << text;
    }
    cout << "]" << endl;
}

/**
 * Read a real export (SOG_TEST_EXPORT) and print what was read, one key a line.
 */
static void testRealExport(const string& path) {
    ifstream file(path, ios::binary);
    ASSERT(file.good());
    stringstream bytes;
    bytes << file.rdbuf();
    SOGExportMetadata m = readExportMetadata(bytes.str(), "'" + path + "'");
    ASSERT(m.present);
    ASSERT_EQUAL(m.numChannels, (int) m.weights.size());
    char number[40];
    cout << "format " << m.format << endl;
    cout << "format_version " << m.formatVersion << endl;
    cout << "periodic " << m.periodic << endl;
    snprintf(number, sizeof(number), "%.17g", m.cutoffNm);
    cout << "cutoff_nm " << number << endl;
    cout << "atomic_numbers [";
    for (size_t i = 0; i < m.atomicNumbers.size(); i++)
        cout << (i > 0 ? ", " : "") << m.atomicNumbers[i];
    cout << "]" << endl;
    cout << "long_range " << m.longRange << endl;
    cout << "num_channels " << m.numChannels << endl;
    snprintf(number, sizeof(number), "%.17g", m.tolerance);
    cout << "tolerance " << number << endl;
    for (int c = 0; c < m.numChannels; c++) {
        printList(("weights_kj_per_mol_per_e2[" + to_string(c) + "]").c_str(), m.weights[c]);
        printList(("widths_nm[" + to_string(c) + "]").c_str(), m.widths[c]);
        cout << "kspace[" << c << "] [";
        for (size_t l = 0; l < m.kspace[c].size(); l++)
            cout << (l > 0 ? ", " : "") << m.kspace[c][l];
        cout << "]" << endl;
    }
    cout << "weights_sha256 " << m.weightsSha256 << endl;
}

int main() {
    try {
        testValidMetadata();
        testShortRangeMetadata();
        testAbsentMetadata();
        testDamagedArchives();
        testCompressedEntryIsRefused();
        testMalformedJson();
        testInconsistentMetadata();
        testDeepNesting();
        const char* path = getenv("SOG_TEST_EXPORT");
        if (path != nullptr && path[0] != '\0')
            testRealExport(path);
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
