#ifndef OPENMM_SOGFFT3D_H_
#define OPENMM_SOGFFT3D_H_

#include <complex>
#include <functional>
#include <vector>

namespace OpenMM {
class ThreadPool;
}

namespace SOGPlugin {

/**
 * The 3D FFTs of the host NUFFT: a real grid to the low modes of its spectrum and back. OpenMM's
 * public headers expose no host FFT, so the Reference platform carries this one. Grid sizes
 * should have small prime factors (the SOG grids are 2,3,5-smooth; other radices up to 16 work,
 * more slowly).
 *
 * Layouts. The real grid holds point (x, y, z) at (x*ny + y)*nz + z. The spectrum holds only
 * the modes the SOG kernel uses, |m_d| <= K_d, and of those only m_z >= 0 (the rest follow from
 * Hermitian symmetry): mode (m_x, m_y, m_z) is at (wrap(m_x)*ny + wrap(m_y))*(K_z + 1) + m_z,
 * wrap(m) = m mod n. The spectrum's entries with |m_x| > K_x or |m_y| > K_y are work space.
 *
 * forward() computes S(m) = sum_g f(g) exp(-2 pi i m.g/n); backward() the real grid
 * f(g) = sum_m T(m) exp(+2 pi i m.g/n) over all modes |m_d| <= K_d, with T(-m) = conj T(m)
 * supplying the modes with m_z < 0. Neither is normalised.
 *
 * How: the 1D transforms run a batch of lines at once with the lines as the innermost (SIMD)
 * index, by a self-sorting (Stockham) mixed-radix algorithm (radix 8 where it divides, then 4,
 * then the other factors); the z pass transforms two real lines as one complex one. Which lines
 * share a batch or a thread, and which instruction set runs the butterflies (the baseline's, AVX2
 * or AVX-512), does not change any result.
 *
 * Real is double (the Reference platform) or float (the CPU platform, as OpenMM's CPU PME):
 * single precision halves the memory traffic and doubles the values per SIMD instruction.
 * Twiddle factors are computed in double precision and then rounded.
 */
template <class Real>
class SOGFFT3D {
public:
    /**
     * @param nx, ny, nz  the grid size
     * @param allowSimdExtensions  whether to use AVX-512 or AVX2 where the processor has them
     *                             (false: the baseline instruction set only, which gives the same
     *                             results; for tests)
     */
    SOGFFT3D(int nx, int ny, int nz, bool allowSimdExtensions = true);
    /**
     * The number of complex entries of the spectrum for mode limits K_d (maxMode[2] = K_z).
     */
    size_t getSpectrumSize(const int maxMode[3]) const {
        return (size_t) size[0]*size[1]*(maxMode[2] + 1);
    }
    /**
     * Transform a real grid to its low modes.
     *
     * @param grid          the nx*ny*nz grid values
     * @param[out] spectrum getSpectrumSize(maxMode) entries, the modes |m_d| <= K_d with m_z >= 0
     * @param maxMode       the mode limits K_d; each must satisfy 2*K_d < n_d
     * @param threads       if not null, the transforms are shared among its threads
     */
    void forward(const Real* grid, std::complex<Real>* spectrum, const int maxMode[3], OpenMM::ThreadPool* threads) const;
    /**
     * Transform the low modes of a Hermitian spectrum to its real grid. Only the entries of the
     * modes |m_d| <= K_d are read; the spectrum is overwritten.
     *
     * @param spectrum   getSpectrumSize(maxMode) entries, layout as for forward()
     * @param[out] grid  the nx*ny*nz grid values
     * @param maxMode    the mode limits K_d; each must satisfy 2*K_d < n_d
     * @param threads    if not null, the transforms are shared among its threads
     */
    void backward(std::complex<Real>* spectrum, Real* grid, const int maxMode[3], OpenMM::ThreadPool* threads) const;
private:
    struct Stage {
        int radix, length;                      // this stage turns transforms of `length` into ones of length/radix
        std::vector<Real> twiddleRe, twiddleIm; // exp(-2 pi i p k/length), entry (k-1)*(length/radix) + p
    };
    enum class InstructionSet {Baseline, Avx2, Avx512};
    struct Plan1D {
        int size;
        std::vector<Stage> stages;
        InstructionSet isa;                     // which the butterflies run in
    };
    struct Lines;
    static Plan1D createPlan(int size, InstructionSet isa);
    /**
     * Transform `batch` lines held as re/im[j*batch + b] (element j of line b) in place; work
     * holds 2*size*batch values. Runs transformBatchAvx2 or transformBatchAvx512 where the plan
     * says so.
     */
    static void transformBatch(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward);
    static void transformBatchPortable(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward);
    static void transformBatchAvx2(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward);
    static void transformBatchAvx512(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward);
    /**
     * pack(first, batch, re, im) fills a batch's buffers (layout as for transformBatch) with the
     * input of transforms first ... first+batch-1; unpack(first, batch, re, im) stores their results.
     */
    typedef std::function<void (int first, int batch, Real* re, Real* im)> BatchIO;
    /**
     * Run count transforms in batches, shared among the pool's threads.
     */
    static void transformInBatches(const Plan1D& plan, int count, bool forward, OpenMM::ThreadPool* threads,
            const BatchIO& pack, const BatchIO& unpack);
    void transformComplexLines(std::complex<Real>* data, const Plan1D& plan, const Lines& lines, bool forward,
            const std::vector<char>* usedInput, OpenMM::ThreadPool* threads) const;
    Lines linesAlongY(int kz) const;
    Lines linesAlongX(const std::vector<char>& usedY, int kz) const;
    void checkModes(const int maxMode[3]) const;
    int size[3];
    Plan1D plans[3];
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGFFT3D_H_*/
