#include "internal/SOGExportMetadata.h"
#include "openmm/OpenMMException.h"
#include <charconv>
#include <functional>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <utility>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// ---------------------------------------------------------------------------------------------
// Zip archives (PKWARE APPNOTE 6.3). PyTorchStreamWriter (miniz) writes every local header with
// zero sizes and CRC (flag bit 3, a data descriptor follows the data), so sizes come only from
// the central directory; it always writes the zip64 end records, and zip64 extra fields for
// entries or offsets past 4 GiB.
// ---------------------------------------------------------------------------------------------

namespace {

const uint32_t LOCAL_HEADER = 0x04034b50;
const uint32_t CENTRAL_HEADER = 0x02014b50;
const uint32_t END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const uint32_t ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const uint32_t ZIP64_LOCATOR = 0x07064b50;
const size_t LOCAL_HEADER_SIZE = 30, CENTRAL_HEADER_SIZE = 46, END_SIZE = 22, ZIP64_END_SIZE = 56, ZIP64_LOCATOR_SIZE = 20;
const int MAX_JSON_DEPTH = 64;

/**
 * Little-endian reads from the archive that refuse to run past its end.
 */
class ZipReader {
public:
    ZipReader(const string& bytes, const string& source) : bytes(bytes), source(source) {
    }
    [[noreturn]] void fail(const string& problem) const {
        throw OpenMMException("TorchSOGForce: " + source + " is not a valid zip archive (a TorchScript export is one): " +
                problem + "; the file is truncated or damaged, or not an export");
    }
    void require(uint64_t offset, uint64_t length, const string& what) const {
        if (offset > bytes.size() || length > bytes.size()-offset)
            fail(what + " at offset " + to_string(offset) + " runs past the end of the " + to_string(bytes.size()) + " bytes");
    }
    uint64_t get(uint64_t offset, int numBytes) const {
        uint64_t value = 0;
        for (int i = numBytes-1; i >= 0; i--)
            value = (value<<8) | static_cast<unsigned char>(bytes[offset+i]);
        return value;
    }
    uint16_t u16(uint64_t offset) const {
        return static_cast<uint16_t>(get(offset, 2));
    }
    uint32_t u32(uint64_t offset) const {
        return static_cast<uint32_t>(get(offset, 4));
    }
    uint64_t u64(uint64_t offset) const {
        return get(offset, 8);
    }
    const string& bytes;
    const string& source;
};

uint32_t crc32(const char* data, size_t length) {
    static uint32_t table[256];
    static bool initialized = [] {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c>>1) : c>>1;
            table[i] = c;
        }
        return true;
    }();
    (void) initialized;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < length; i++)
        crc = table[(crc ^ static_cast<unsigned char>(data[i])) & 0xFF] ^ (crc>>8);
    return crc ^ 0xFFFFFFFFu;
}

bool endsWith(const string& text, const string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size()-suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

namespace {

/**
 * Call visit(name, contents) for the stored entries whose names wanted() accepts, in archive
 * order, until visit returns true. Directory entries (names ending in '/') are skipped.
 */
void visitZipEntries(const string& archiveBytes, const string& source, const function<bool(const string&)>& wanted,
        const function<bool(const string&, string&&)>& visit) {
    ZipReader zip(archiveBytes, source);
    uint64_t size = archiveBytes.size();

    // The end-of-central-directory record: the last one whose comment reaches the end of the file.
    if (size < END_SIZE)
        zip.fail("it has only " + to_string(size) + " bytes");
    uint64_t end = size;
    uint64_t lowest = (size-END_SIZE > 0xFFFF ? size-END_SIZE-0xFFFF : 0);
    for (uint64_t pos = size-END_SIZE+1; pos-- > lowest; )
        if (zip.u32(pos) == END_OF_CENTRAL_DIRECTORY && pos+END_SIZE+zip.u16(pos+20) == size) {
            end = pos;
            break;
        }
    if (end == size)
        zip.fail("no end-of-central-directory record");
    if (zip.u16(end+4) != 0 || zip.u16(end+6) != 0)
        zip.fail("it spans several disks");
    uint64_t numEntries = zip.u16(end+10);
    uint64_t directorySize = zip.u32(end+12);
    uint64_t directoryOffset = zip.u32(end+16);
    uint64_t directoryLimit = end;   // the central directory lies before the end records

    // Zip64: the locator just before that record points at the zip64 record with 64-bit fields.
    if (end >= ZIP64_LOCATOR_SIZE && zip.u32(end-ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR) {
        uint64_t locator = end-ZIP64_LOCATOR_SIZE;
        uint64_t record = zip.u64(locator+8);
        if (record > locator || locator-record < ZIP64_END_SIZE || zip.u32(record) != ZIP64_END_OF_CENTRAL_DIRECTORY)
            zip.fail("the zip64 end-of-central-directory locator points at offset " + to_string(record) + ", where there is no zip64 record");
        if (zip.u32(record+16) != 0 || zip.u32(record+20) != 0)
            zip.fail("it spans several disks");
        numEntries = zip.u64(record+32);
        directorySize = zip.u64(record+40);
        directoryOffset = zip.u64(record+48);
        directoryLimit = record;
    }
    else if (numEntries == 0xFFFF || directorySize == 0xFFFFFFFF || directoryOffset == 0xFFFFFFFF)
        zip.fail("the end-of-central-directory record needs zip64 records, which are missing");
    if (directoryOffset > directoryLimit || directorySize > directoryLimit-directoryOffset)
        zip.fail("the central directory (offset " + to_string(directoryOffset) + ", " + to_string(directorySize) +
                " bytes) does not end before the end records at offset " + to_string(directoryLimit));
    // Every entry takes at least CENTRAL_HEADER_SIZE bytes, which bounds the loop.
    if (numEntries > directorySize/CENTRAL_HEADER_SIZE)
        zip.fail("the central directory is too small for its " + to_string(numEntries) + " entries");

    uint64_t pos = directoryOffset, directoryEnd = directoryOffset+directorySize;
    for (uint64_t entry = 0; entry < numEntries; entry++) {
        if (pos > directoryEnd || directoryEnd-pos < CENTRAL_HEADER_SIZE || zip.u32(pos) != CENTRAL_HEADER)
            zip.fail("central directory entry " + to_string(entry) + " at offset " + to_string(pos) + " is damaged");
        int flags = zip.u16(pos+8);
        int method = zip.u16(pos+10);
        uint32_t crc = zip.u32(pos+16);
        uint64_t compressedSize = zip.u32(pos+20);
        uint64_t uncompressedSize = zip.u32(pos+24);
        uint64_t nameLength = zip.u16(pos+28), extraLength = zip.u16(pos+30), commentLength = zip.u16(pos+32);
        uint64_t localOffset = zip.u32(pos+42);
        uint64_t next = pos+CENTRAL_HEADER_SIZE+nameLength+extraLength+commentLength;
        if (next > directoryEnd)
            zip.fail("central directory entry " + to_string(entry) + " runs past the end of the central directory");
        string name = archiveBytes.substr(pos+CENTRAL_HEADER_SIZE, nameLength);
        if (endsWith(name, "/") || !wanted(name)) {
            pos = next;
            continue;
        }

        // The zip64 extra field holds, in this order, those of the three values saturated above.
        uint64_t extra = pos+CENTRAL_HEADER_SIZE+nameLength, extraEnd = extra+extraLength;
        while (extraEnd-extra >= 4) {
            int id = zip.u16(extra), length = zip.u16(extra+2);
            if (static_cast<uint64_t>(length) > extraEnd-extra-4)
                zip.fail("the extra field of entry '" + name + "' is damaged");
            if (id == 0x0001) {
                uint64_t field = extra+4, fieldEnd = field+length;
                for (uint64_t* value : {&uncompressedSize, &compressedSize, &localOffset}) {
                    if (*value != 0xFFFFFFFF)
                        continue;
                    if (fieldEnd-field < 8)
                        zip.fail("the zip64 extra field of entry '" + name + "' is too short");
                    *value = zip.u64(field);
                    field += 8;
                }
            }
            extra += 4+length;
        }
        if (flags & 1)
            throw OpenMMException("TorchSOGForce: " + source + ": the zip entry '" + name + "' is encrypted and cannot be read");
        if (method != 0)
            throw OpenMMException("TorchSOGForce: " + source + ": the zip entry '" + name + "' is compressed (method " +
                    to_string(method) + (method == 8 ? ", deflate" : "") + "); only stored (uncompressed) entries can be "
                    "read, as torch.jit.save writes extra files");
        if (compressedSize != uncompressedSize)
            zip.fail("the stored entry '" + name + "' has " + to_string(compressedSize) + " bytes but records " +
                    to_string(uncompressedSize) + " uncompressed bytes");

        // The local header's name and extra field (PyTorch pads it for alignment) precede the data.
        zip.require(localOffset, LOCAL_HEADER_SIZE, "the local header of entry '" + name + "'");
        if (zip.u32(localOffset) != LOCAL_HEADER)
            zip.fail("there is no local header of entry '" + name + "' at offset " + to_string(localOffset));
        uint64_t localNameLength = zip.u16(localOffset+26), localExtraLength = zip.u16(localOffset+28);
        uint64_t data = localOffset+LOCAL_HEADER_SIZE+localNameLength+localExtraLength;
        zip.require(localOffset, LOCAL_HEADER_SIZE+localNameLength+localExtraLength, "the local header of entry '" + name + "'");
        if (archiveBytes.compare(localOffset+LOCAL_HEADER_SIZE, localNameLength, name) != 0)
            zip.fail("the local header at offset " + to_string(localOffset) + " names another entry than '" + name + "'");
        zip.require(data, uncompressedSize, "the data of entry '" + name + "' (" + to_string(uncompressedSize) + " bytes)");
        string contents = archiveBytes.substr(data, uncompressedSize);
        if (crc32(contents.data(), contents.size()) != crc)
            zip.fail("the entry '" + name + "' fails its CRC-32 check");
        if (visit(name, std::move(contents)))
            return;
        pos = next;
    }
}

} // namespace

string SOGPlugin::readZipEntry(const string& archiveBytes, const string& nameSuffix, const string& source) {
    string found;
    visitZipEntries(archiveBytes, source, [&](const string& name) { return endsWith(name, nameSuffix); },
            [&](const string&, string&& contents) { found = std::move(contents); return true; });
    return found;
}

vector<pair<string, string> > SOGPlugin::readZipEntries(const string& archiveBytes, const string& source) {
    vector<pair<string, string> > entries;
    visitZipEntries(archiveBytes, source, [](const string&) { return true; },
            [&](const string& name, string&& contents) { entries.emplace_back(name, std::move(contents)); return false; });
    return entries;
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

const SOGJsonValue* SOGJsonValue::find(const string& key) const {
    if (type != Object)
        return nullptr;
    for (size_t i = keys.size(); i-- > 0; )
        if (keys[i] == key)
            return &elements[i];
    return nullptr;
}

namespace {

class JsonParser {
public:
    JsonParser(const string& text, const string& what) : text(text), what(what), pos(0) {
    }
    SOGJsonValue parseDocument() {
        SOGJsonValue value = parseValue(0);
        skipSpace();
        if (pos != text.size())
            fail("unexpected text after the value");
        return value;
    }
private:
    [[noreturn]] void fail(const string& reason) const {
        throw OpenMMException("TorchSOGForce: " + what + " is not valid JSON at offset " + to_string(pos) + " (" + reason + ")");
    }
    void skipSpace() {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
            pos++;
    }
    bool consume(const char* word) {
        size_t length = char_traits<char>::length(word);
        if (text.compare(pos, length, word) != 0)
            return false;
        pos += length;
        return true;
    }
    SOGJsonValue parseValue(int depth) {
        skipSpace();
        if (pos == text.size())
            fail("unexpected end of the text");
        SOGJsonValue value;
        char c = text[pos];
        if (c == '{' || c == '[') {
            if (depth >= MAX_JSON_DEPTH)
                fail("arrays and objects nested deeper than " + to_string(MAX_JSON_DEPTH) + " levels");
            bool object = (c == '{');
            char close = (object ? '}' : ']');
            value.type = (object ? SOGJsonValue::Object : SOGJsonValue::Array);
            pos++;
            skipSpace();
            if (pos < text.size() && text[pos] == close) {
                pos++;
                return value;
            }
            while (true) {
                if (object) {
                    skipSpace();
                    if (pos == text.size() || text[pos] != '"')
                        fail("expected a string key");
                    value.keys.push_back(parseString());
                    skipSpace();
                    if (pos == text.size() || text[pos] != ':')
                        fail("expected ':'");
                    pos++;
                }
                value.elements.push_back(parseValue(depth+1));
                skipSpace();
                if (pos < text.size() && text[pos] == ',')
                    pos++;
                else if (pos < text.size() && text[pos] == close) {
                    pos++;
                    return value;
                }
                else
                    fail(string("expected ',' or '") + close + "'");
            }
        }
        if (c == '"') {
            value.type = SOGJsonValue::String;
            value.text = parseString();
        }
        else if (consume("true") || consume("false")) {
            value.type = SOGJsonValue::Bool;
            value.boolean = (c == 't');
        }
        else if (consume("null"))
            value.type = SOGJsonValue::Null;
        // Python's json module writes non-finite floats so; they are refused later, by key.
        else if (consume("NaN")) {
            value.type = SOGJsonValue::Number;
            value.number = numeric_limits<double>::quiet_NaN();
        }
        else if (consume("Infinity") || consume("-Infinity")) {
            value.type = SOGJsonValue::Number;
            value.number = (c == '-' ? -1 : 1)*numeric_limits<double>::infinity();
        }
        else if (c == '-' || (c >= '0' && c <= '9')) {
            value.type = SOGJsonValue::Number;
            value.number = parseNumber();
        }
        else
            fail(string("unexpected character '") + c + "'");
        return value;
    }
    size_t skipDigits() {
        size_t start = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
            pos++;
        return pos-start;
    }
    double parseNumber() {
        // Check the JSON grammar, then convert with from_chars (locale independent, correctly rounded).
        size_t start = pos;
        if (text[pos] == '-')
            pos++;
        size_t integerStart = pos;
        size_t integerDigits = skipDigits();
        if (integerDigits == 0)
            fail("expected a digit");
        if (integerDigits > 1 && text[integerStart] == '0') {
            pos = integerStart;
            fail("a number with a leading zero");
        }
        size_t integerEnd = pos;
        if (pos < text.size() && text[pos] == '.') {
            pos++;
            if (skipDigits() == 0)
                fail("expected a digit after '.'");
        }
        long long exponent = 0;
        if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
            pos++;
            bool negative = (pos < text.size() && text[pos] == '-');
            if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
                pos++;
            size_t exponentStart = pos;
            if (skipDigits() == 0)
                fail("expected a digit in the exponent");
            for (size_t i = exponentStart; i < pos && exponent < 100000; i++)
                exponent = 10*exponent + (text[i]-'0');
            if (negative)
                exponent = -exponent;
        }
        double result = 0.0;
        from_chars_result parsed = from_chars(text.data()+start, text.data()+pos, result);
        if (parsed.ec == errc::result_out_of_range) {
            // As Python: overflow gives +-infinity, underflow +-0. The decimal magnitude tells which.
            size_t firstNonzero = integerStart;
            while (firstNonzero < pos && (text[firstNonzero] < '1' || text[firstNonzero] > '9'))
                firstNonzero++;
            long long magnitude = exponent + (firstNonzero < integerEnd ? static_cast<long long>(integerEnd-firstNonzero) :
                    -static_cast<long long>(firstNonzero-integerEnd-1));
            result = (magnitude > 0 ? numeric_limits<double>::infinity() : 0.0);
            if (text[start] == '-')
                result = -result;
        }
        else if (parsed.ec != errc() || parsed.ptr != text.data()+pos)
            fail("a malformed number");
        return result;
    }
    unsigned parseHex4() {
        if (text.size()-pos < 4)
            fail("a truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; i++) {
            char c = text[pos++];
            code <<= 4;
            if (c >= '0' && c <= '9')
                code |= c-'0';
            else if (c >= 'a' && c <= 'f')
                code |= c-'a'+10;
            else if (c >= 'A' && c <= 'F')
                code |= c-'A'+10;
            else
                fail("a malformed \\u escape");
        }
        return code;
    }
    string parseString() {
        pos++; // the opening quote
        string result;
        while (true) {
            if (pos == text.size())
                fail("an unterminated string");
            char c = text[pos];
            if (c == '"') {
                pos++;
                return result;
            }
            if (static_cast<unsigned char>(c) < 0x20)
                fail("a control character in a string");
            pos++;
            if (c != '\\') {
                result += c;
                continue;
            }
            if (pos == text.size())
                fail("an unterminated string");
            char escape = text[pos++];
            switch (escape) {
                case '"': result += '"'; break;
                case '\\': result += '\\'; break;
                case '/': result += '/'; break;
                case 'b': result += '\b'; break;
                case 'f': result += '\f'; break;
                case 'n': result += '\n'; break;
                case 'r': result += '\r'; break;
                case 't': result += '\t'; break;
                case 'u': {
                    unsigned code = parseHex4();
                    if (code >= 0xD800 && code < 0xDC00 && text.compare(pos, 2, "\\u") == 0) {
                        size_t high = pos;
                        pos += 2;
                        unsigned low = parseHex4();
                        if (low >= 0xDC00 && low < 0xE000)
                            code = 0x10000 + ((code-0xD800)<<10) + (low-0xDC00);
                        else
                            pos = high;
                    }
                    if (code >= 0xD800 && code < 0xE000)
                        code = 0xFFFD; // an unpaired surrogate (Python writes them) has no UTF-8 form
                    appendUtf8(result, code);
                    break;
                }
                default:
                    pos--;
                    fail(string("an invalid escape '\\") + escape + "'");
            }
        }
    }
    static void appendUtf8(string& out, unsigned code) {
        if (code < 0x80)
            out += static_cast<char>(code);
        else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code>>6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
        else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code>>12));
            out += static_cast<char>(0x80 | ((code>>6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
        else {
            out += static_cast<char>(0xF0 | (code>>18));
            out += static_cast<char>(0x80 | ((code>>12) & 0x3F));
            out += static_cast<char>(0x80 | ((code>>6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }
    const string& text;
    const string& what;
    size_t pos;
};

} // namespace

SOGJsonValue SOGPlugin::parseJson(const string& text, const string& what) {
    return JsonParser(text, what).parseDocument();
}

// ---------------------------------------------------------------------------------------------
// metadata.json of an export (openmm_sog.training.export.export_metadata())
// ---------------------------------------------------------------------------------------------

namespace {

/**
 * Typed access to the keys of metadata.json; every refusal names the key and the model.
 */
class MetadataChecker {
public:
    MetadataChecker(const string& source) : source(source) {
    }
    [[noreturn]] void fail(const string& key, const string& problem) const {
        throw OpenMMException("TorchSOGForce: the metadata.json of " + source + " has " + key + " " + problem +
                "; export the model again with `sognet export`");
    }
    static string describe(const SOGJsonValue& value) {
        switch (value.type) {
            case SOGJsonValue::Null: return "null";
            case SOGJsonValue::Bool: return value.boolean ? "true" : "false";
            case SOGJsonValue::Number: {
                stringstream text;
                text.precision(17);
                text << value.number;
                return text.str();
            }
            case SOGJsonValue::String: return "a string";
            case SOGJsonValue::Array: return "an array";
            default: return "an object";
        }
    }
    [[noreturn]] void missing(const string& key) const {
        throw OpenMMException("TorchSOGForce: the metadata.json of " + source + " has no " + key +
                "; export the model again with `sognet export`");
    }
    double finiteNumber(const SOGJsonValue& value, const string& key) const {
        if (value.type != SOGJsonValue::Number)
            fail(key, "= " + describe(value) + ", not a number");
        if (!isfinite(value.number))
            fail(key, "= " + describe(value) + ", not a finite number");
        return value.number;
    }
    double positiveNumber(const SOGJsonValue& value, const string& key) const {
        double number = finiteNumber(value, key);
        if (!(number > 0))
            fail(key, "= " + describe(value) + ", which must be positive");
        return number;
    }
    int integer(const SOGJsonValue& value, const string& key, int lowest, int highest) const {
        if (value.type != SOGJsonValue::Number || value.number != floor(value.number))
            fail(key, "= " + describe(value) + ", not an integer");
        if (value.number < lowest || value.number > highest)
            fail(key, "= " + describe(value) + ", outside " + to_string(lowest) + ".." + to_string(highest));
        return static_cast<int>(value.number);
    }
    bool boolean(const SOGJsonValue& value, const string& key) const {
        if (value.type != SOGJsonValue::Bool)
            fail(key, "= " + describe(value) + ", not true or false");
        return value.boolean;
    }
    const SOGJsonValue& array(const SOGJsonValue& value, const string& key) const {
        if (value.type != SOGJsonValue::Array)
            fail(key, "= " + describe(value) + ", not an array");
        return value;
    }
    /**
     * A [P][L_c] array of arrays with P = numChannels (or any P when numChannels < 0).
     */
    const SOGJsonValue& perChannel(const SOGJsonValue* value, const string& key, int numChannels) const {
        if (value == nullptr)
            missing(key);
        array(*value, key);
        if (numChannels >= 0 && value->elements.size() != static_cast<size_t>(numChannels))
            fail(key, "for " + to_string(value->elements.size()) + " channels, but num_channels is " + to_string(numChannels));
        for (size_t c = 0; c < value->elements.size(); c++)
            array(value->elements[c], key + "[" + to_string(c) + "]");
        return *value;
    }
    const string& source;
};

} // namespace

SOGExportMetadata SOGPlugin::readExportMetadata(const string& modelBytes, const string& source) {
    SOGExportMetadata metadata;
    string text = readZipEntry(modelBytes, "/extra/metadata.json", source);
    if (text.empty())
        return metadata;
    SOGJsonValue root = parseJson(text, "the metadata.json of " + source);
    MetadataChecker check(source);
    if (root.type != SOGJsonValue::Object)
        throw OpenMMException("TorchSOGForce: the metadata.json of " + source + " holds " + check.describe(root) +
                ", not an object; export the model again with `sognet export`");
    metadata.present = true;
    const SOGJsonValue* value;

    if ((value = root.find("format")) != nullptr && value->type != SOGJsonValue::Null) {
        if (value->type != SOGJsonValue::String)
            check.fail("format", "= " + check.describe(*value) + ", not a string");
        metadata.format = value->text;
    }
    // null counts as absent (format 0), as in openmm_sog.training.integrity.check_format_version().
    if ((value = root.find("format_version")) != nullptr && value->type != SOGJsonValue::Null)
        metadata.formatVersion = check.integer(*value, "format_version", 0, numeric_limits<int>::max());
    if ((value = root.find("periodic")) != nullptr && value->type != SOGJsonValue::Null)
        metadata.periodic = check.boolean(*value, "periodic") ? 1 : 0;
    if ((value = root.find("cutoff_angstrom")) != nullptr)
        metadata.cutoffNm = check.positiveNumber(*value, "cutoff_angstrom")/10.0;
    if ((value = root.find("atomic_numbers")) != nullptr) {
        check.array(*value, "atomic_numbers");
        for (size_t i = 0; i < value->elements.size(); i++)
            metadata.atomicNumbers.push_back(check.integer(value->elements[i], "atomic_numbers[" + to_string(i) + "]", 1, 118));
    }
    const pair<const char*, string*> digests[] = {{"weights_sha256", &metadata.weightsSha256},
            {"package_sha256", &metadata.packageSha256}};
    for (const auto& [key, target] : digests)
        if ((value = root.find(key)) != nullptr && value->type != SOGJsonValue::Null) {
            if (value->type != SOGJsonValue::String)
                check.fail(key, "= " + check.describe(*value) + ", not a string");
            *target = value->text;
        }
    // The units the model's inputs and outputs are in (the plugin converts from them).
    if ((value = root.find("units")) != nullptr && value->type != SOGJsonValue::Null) {
        if (value->type != SOGJsonValue::Object)
            check.fail("units", "= " + check.describe(*value) + ", not an object");
        const pair<const char*, string*> units[] = {{"length", &metadata.lengthUnit}, {"energy", &metadata.energyUnit},
                {"charge", &metadata.chargeUnit}};
        for (const auto& [key, target] : units) {
            const SOGJsonValue* unit = value->find(key);
            if (unit == nullptr || unit->type == SOGJsonValue::Null)
                continue;
            if (unit->type != SOGJsonValue::String)
                check.fail(string("units.") + key, "= " + check.describe(*unit) + ", not a string");
            *target = unit->text;
        }
    }

    // The model has Gaussians ("sog") exactly when it has a long range, one row per channel.
    const SOGJsonValue* sog = root.find("sog");
    if (sog != nullptr && sog->type == SOGJsonValue::Null)
        sog = nullptr;
    if (sog != nullptr && sog->type != SOGJsonValue::Object)
        check.fail("sog", "= " + check.describe(*sog) + ", not an object");
    metadata.longRange = (sog != nullptr);
    if ((value = root.find("long_range")) != nullptr) {
        metadata.longRange = check.boolean(*value, "long_range");
        if (metadata.longRange != (sog != nullptr))
            check.fail("long_range", string("= ") + (metadata.longRange ? "true but no sog" : "false but a sog") + " (Gaussians)");
    }
    int numChannels = -1;
    if ((value = root.find("num_channels")) != nullptr)
        numChannels = check.integer(*value, "num_channels", 0, numeric_limits<int>::max());
    if (sog == nullptr) {
        if (numChannels > 0)
            check.fail("num_channels", "= " + to_string(numChannels) + " but no sog (Gaussians)");
        return metadata;
    }

    const SOGJsonValue& weights = check.perChannel(sog->find("weights_kj_per_mol_per_e2"), "sog.weights_kj_per_mol_per_e2", numChannels);
    numChannels = weights.elements.size();
    if (numChannels == 0)
        check.fail("sog.weights_kj_per_mol_per_e2", "= [], with no channels");
    const SOGJsonValue& widths = check.perChannel(sog->find("widths_nm"), "sog.widths_nm", numChannels);
    const SOGJsonValue* kspace = sog->find("kspace");
    if (kspace != nullptr)
        check.perChannel(kspace, "sog.kspace", numChannels);
    metadata.numChannels = numChannels;
    metadata.weights.resize(numChannels);
    metadata.widths.resize(numChannels);
    metadata.kspace.resize(numChannels);
    for (int c = 0; c < numChannels; c++) {
        string channel = "[" + to_string(c) + "]";
        size_t numGaussians = weights.elements[c].elements.size();
        if (numGaussians == 0)
            check.fail("sog.weights_kj_per_mol_per_e2" + channel, "= [], with no Gaussians");
        if (widths.elements[c].elements.size() != numGaussians)
            check.fail("sog.widths_nm" + channel, "with " + to_string(widths.elements[c].elements.size()) + " widths for " +
                    to_string(numGaussians) + " weights in sog.weights_kj_per_mol_per_e2" + channel);
        if (kspace != nullptr && kspace->elements[c].elements.size() != numGaussians)
            check.fail("sog.kspace" + channel, "with " + to_string(kspace->elements[c].elements.size()) + " flags for " +
                    to_string(numGaussians) + " weights in sog.weights_kj_per_mol_per_e2" + channel);
        for (size_t l = 0; l < numGaussians; l++) {
            string index = channel + "[" + to_string(l) + "]";
            metadata.weights[c].push_back(check.finiteNumber(weights.elements[c].elements[l], "sog.weights_kj_per_mol_per_e2" + index));
            metadata.widths[c].push_back(check.positiveNumber(widths.elements[c].elements[l], "sog.widths_nm" + index));
            // Without the key (exports before it) every Gaussian is in the k-space sum.
            metadata.kspace[c].push_back(kspace == nullptr ? true : check.boolean(kspace->elements[c].elements[l], "sog.kspace" + index));
        }
    }
    const SOGJsonValue* tolerance = sog->find("tolerance");
    if (tolerance == nullptr)
        check.missing("sog.tolerance");
    metadata.tolerance = check.positiveNumber(*tolerance, "sog.tolerance");
    return metadata;
}
