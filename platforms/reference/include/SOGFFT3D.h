#ifndef OPENMM_SOGFFT3D_H_
#define OPENMM_SOGFFT3D_H_

#include <complex>
#include <vector>

namespace OpenMM {
class ThreadPool;
}

namespace SOGPlugin {

/**
 * A small in-place 3D complex FFT for grid sizes whose prime factors are small (the SOG grids
 * are 2,3,5-smooth). OpenMM's public headers expose no host FFT, so the Reference platform
 * carries this one. Element (x, y, z) is stored at (x*ny + y)*nz + z.
 *
 * The forward transform computes sum_g f(g) exp(-2 pi i m.g/n) and the backward transform the
 * same with exp(+2 pi i m.g/n); neither is normalised.
 *
 * Pruning: the SOG kernel only uses modes |m_d| <= K_d. Given those limits, the forward
 * transform skips lines whose outputs are never read (so other modes are left undefined), and
 * the backward transform assumes the input is zero outside them and skips lines of zeros.
 *
 * Real data: a forward transform of a real grid and a backward transform whose result is real
 * (a Hermitian-symmetric input) can say so; the pass along z, which no pruning shortens, then
 * transforms two lines at once as the real and imaginary parts of one complex line.
 */
class SOGFFT3D {
public:
    SOGFFT3D(int nx, int ny, int nz);
    /**
     * Transform a grid in place.
     *
     * @param data     the nx*ny*nz grid values
     * @param forward  true for exp(-2 pi i ...), false for exp(+2 pi i ...)
     * @param threads  if not null, the 1D transforms along each axis are shared among its threads
     * @param maxMode  if not null, the mode limits K_d described above; null transforms everything
     * @param real     forward: the input is real; backward: the result is real (its imaginary
     *                 parts are then set to zero)
     */
    void transform(std::vector<std::complex<double> >& data, bool forward, OpenMM::ThreadPool* threads = nullptr,
            const int* maxMode = nullptr, bool real = false) const;
private:
    struct Plan1D {
        int size;
        std::vector<int> factors;                              // radices, outermost first
        std::vector<std::vector<std::complex<double> > > twiddles; // per stage: exp(-2 pi i r k/length), (r-1)*m + k
        std::vector<std::vector<std::complex<double> > > roots;    // per stage: exp(-2 pi i j/p), j < p
    };
    static Plan1D createPlan(int size);
    static void transform1D(const Plan1D& plan, int stage, const std::complex<double>* in, int inStride,
            std::complex<double>* out, int length, bool forward);
    void transformLines(std::complex<double>* data, int axis, const std::vector<int>& lineStarts, int begin, int end,
            bool forward) const;
    void transformRealLinePairs(std::complex<double>* data, const std::vector<int>& lineStarts, int begin, int end,
            bool forward) const;
    int size[3];
    Plan1D plans[3];
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGFFT3D_H_*/
