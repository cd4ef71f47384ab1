#ifndef OPENMM_SOGEVALUATIONPROFILE_H_
#define OPENMM_SOGEVALUATIONPROFILE_H_

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * Where a force's evaluations spend their time: the wall-clock time of each part of every
 * evaluation, written as one JSON line (the median of each part over the evaluations after the
 * first WARM_UP ones, in ms) appended to the file that OPENMM_SOG_PROFILE names, when the kernel
 * goes (with its Context). The first evaluations are left out because TorchScript optimises a
 * model over its first calls and the engine plans its grids.
 * It keeps every evaluation's times (40 bytes each for five parts: 40 MB per million).
 * Off unless that variable is set; bench/bench_scaling_model.py reads it to time the long range
 * inside TorchSOGForce, where a difference of two whole timings drowns in a shared machine's
 * noise.
 */
class SOGEvaluationProfile {
public:
    /**
     * The profile OPENMM_SOG_PROFILE asks for, or nullptr when it is unset or empty.
     *
     * @param force     the force's class name, for the record
     * @param platform  the platform's name, for the record
     * @param parts     the names of the parts, in the order mark() numbers them
     */
    static SOGEvaluationProfile* createIfRequested(const std::string& force, const std::string& platform,
            const std::vector<std::string>& parts) {
        const char* path = std::getenv("OPENMM_SOG_PROFILE");
        if (path == nullptr || *path == '\0')
            return nullptr;
        return new SOGEvaluationProfile(path, force, platform, parts);
    }
    ~SOGEvaluationProfile() {
        FILE* file = std::fopen(path.c_str(), "a");
        if (file == nullptr) {
            std::fprintf(stderr, "OPENMM_SOG_PROFILE: cannot append to '%s'\n", path.c_str());
            return;
        }
        std::fprintf(file, "{\"force\": \"%s\", \"platform\": \"%s\", \"evaluations\": %d, \"warm_up\": %d, "
                "\"median_ms\": {", force.c_str(), platform.c_str(), evaluations, WARM_UP);
        // null: no evaluation after the warm-up ones, so no time to report
        for (size_t k = 0; k < parts.size(); k++) {
            std::fprintf(file, "%s\"%s\": ", k == 0 ? "" : ", ", parts[k].c_str());
            if (samples[k].empty())
                std::fprintf(file, "null");
            else
                std::fprintf(file, "%.6f", median(samples[k]));
        }
        std::fprintf(file, "}}\n");
        std::fclose(file);
    }
    /** Begin an evaluation. */
    void start() {
        last = Clock::now();
        current.assign(parts.size(), 0.0);
    }
    /** The time since start() or the previous mark() belongs to part `part`. */
    void mark(int part) {
        const Clock::time_point now = Clock::now();
        current[part] += std::chrono::duration<double, std::milli>(now - last).count();
        last = now;
    }
    /** End an evaluation: its parts join the samples. */
    void finish() {
        if (evaluations++ < WARM_UP)
            return;
        for (size_t k = 0; k < parts.size(); k++)
            samples[k].push_back(current[k]);
    }
    static const int WARM_UP = 2;
private:
    typedef std::chrono::steady_clock Clock;
    SOGEvaluationProfile(const std::string& path, const std::string& force, const std::string& platform,
            const std::vector<std::string>& parts) : path(path), force(force), platform(platform), parts(parts),
            samples(parts.size()), evaluations(0) {
    }
    static double median(std::vector<double> values) {
        std::sort(values.begin(), values.end());
        const size_t n = values.size();
        return (n % 2 == 1 ? values[n/2] : 0.5*(values[n/2 - 1] + values[n/2]));
    }
    std::string path, force, platform;
    std::vector<std::string> parts;
    std::vector<std::vector<double> > samples;
    std::vector<double> current;
    Clock::time_point last;
    int evaluations;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGEVALUATIONPROFILE_H_*/
