#ifndef OPENMM_SOGPARALLELFOR_H_
#define OPENMM_SOGPARALLELFOR_H_

#include "openmm/internal/ThreadPool.h"
#include <functional>

namespace SOGPlugin {

/**
 * Run body(begin, end, thread) on contiguous pieces of [0, count), one per thread of the pool
 * (on the calling thread alone if the pool is null or has one thread). The pieces depend only on
 * count and the number of threads.
 */
inline void parallelFor(OpenMM::ThreadPool* threads, int count, const std::function<void (int, int, int)>& body) {
    const int numThreads = (threads == nullptr ? 1 : threads->getNumThreads());
    if (numThreads < 2) {
        body(0, count, 0);
        return;
    }
    threads->execute([&](OpenMM::ThreadPool& pool, int thread) {
        body((int) ((long long) count*thread/numThreads), (int) ((long long) count*(thread + 1)/numThreads), thread);
    });
    threads->waitForThreads();
}

} // namespace SOGPlugin

#endif /*OPENMM_SOGPARALLELFOR_H_*/
