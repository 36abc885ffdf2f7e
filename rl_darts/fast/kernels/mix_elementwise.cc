// Fused mixing of a supernet node's elementwise ops, for CPU.
//
// MixElementwise: ys[j] = base[..., j*C:(j+1)*C] (+ pending[j]) +
// sum_i w[i, j] * f_i(x), with f_i in {relu, tanh, identity}: one pass over x,
// `base` (the concatenated, already weighted conv outputs of the same edges)
// and the nodes' `pending` sums, if given, writes every node's sum, where TF
// ops would write f_i(x), split `base` and multiply and add tensor by tensor.
// MixElementwiseGrad returns dL/dx, dL/dbase (the dys, concatenated) and
// dL/dw; dL/dpending is the dys themselves (rl_darts/fused.py). Same
// arithmetic as the TF ops, in another summation order.
//
// Both run a pixel's channels as vectors of W lanes (`Lanes`) and write their
// outputs with streaming stores, which skip reading the destination's cache
// lines first: the outputs are written once, whole, and are far larger than
// the caches. A Micro 16x3 train step runs about 5% faster than with
// per-channel loops and plain stores (WORKSPACE.md, Benchmarks).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#if defined(__SSE__)
#include <immintrin.h>
#endif

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::errors::InvalidArgument;

enum Fn { kRelu, kTanh, kIdentity };

// Pixels per chunk: a chunk's f_i(x) stay in L1 between the nodes' passes.
constexpr int64_t kChunkPixels = 32;
// Pixels per parallel block; blocks are fixed, so sums over them are too.
constexpr int64_t kBlockPixels = 1024;

std::vector<Fn> ParseFns(OpKernelConstruction* context) {
  std::vector<std::string> names;
  const tensorflow::Status status = context->GetAttr("fns", &names);
  if (!status.ok()) {
    context->CtxFailure(status);
    return {};
  }
  std::vector<Fn> fns;
  for (const std::string& name : names) {
    if (name == "relu") {
      fns.push_back(kRelu);
    } else if (name == "tanh") {
      fns.push_back(kTanh);
    } else if (name == "identity") {
      fns.push_back(kIdentity);
    } else {
      context->CtxFailure(InvalidArgument(
          "unknown elementwise fn '", name,
          "'; allowed: relu, tanh, identity"));
      return {};
    }
  }
  return fns;
}

// f(x) into `value` and, if `slope` is set, f'(x) into `slope`.
void Apply(Fn fn, const float* x, int64_t n, float* value, float* slope) {
  using Array = Eigen::Map<Eigen::ArrayXf>;
  using ConstArray = Eigen::Map<const Eigen::ArrayXf>;
  ConstArray in(x, n);
  Array out(value, n);
  switch (fn) {
    case kRelu:
      out = in.max(0.0f);
      if (slope) Array(slope, n) = (in > 0.0f).cast<float>();
      break;
    case kTanh:
      out = in.tanh();
      if (slope) Array(slope, n) = 1.0f - out.square();
      break;
    case kIdentity:
      out = in;
      if (slope) Array(slope, n).setOnes();
      break;
  }
}

// W floats as one value: a GCC vector (SIMD registers where the CPU has them)
// or, for W = 1, a float.
template <int W>
struct Vector {
  typedef float Type __attribute__((vector_size(4 * W)));
};
template <>
struct Vector<1> {
  using Type = float;
};

// W consecutive channels as one vector. A pixel's C channels are C / W of them.
template <int W>
struct Lanes {
  using V = typename Vector<W>::Type;
  static constexpr int kWidth = W;

  static V Load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static V Splat(float a) { return V{} + a; }
  static double Sum(V v) {
    if constexpr (W == 1) {
      return v;
    } else {
      double total = 0.0;
      for (int lane = 0; lane < W; ++lane) total += v[lane];
      return total;
    }
  }
  // A streaming store where the CPU has one for W lanes and `stream` says
  // `p` is aligned for it, else a plain one.
  static void Store(float* p, V v, bool stream) {
#if defined(__AVX512F__)
    if constexpr (W == 16) {
      if (stream) return _mm512_stream_ps(p, reinterpret_cast<__m512>(v));
    }
#endif
#if defined(__AVX__)
    if constexpr (W % 8 == 0) {
      if (stream) {
        const float* lanes = reinterpret_cast<const float*>(&v);
        for (int at = 0; at < W; at += 8) {
          _mm256_stream_ps(p + at, _mm256_loadu_ps(lanes + at));
        }
        return;
      }
    }
#endif
    std::memcpy(p, &v, sizeof v);
  }
};

// Calls body(Lanes<W>()) with the widest W in {16, 8, 1} dividing `channels`.
template <typename Body>
void WithLanes(int64_t channels, Body body) {
  if (channels % 16 == 0) {
    body(Lanes<16>());
  } else if (channels % 8 == 0) {
    body(Lanes<8>());
  } else {
    body(Lanes<1>());
  }
}

// Where element `index` of node j's C-channel tensor lies in the concat of the
// K nodes' tensors along channels (`base` and its gradient).
int64_t ConcatIndex(int64_t index, int64_t j, int64_t k, int64_t c) {
  return (index / c * k + j) * c + index % c;
}

// Whether every output starts on 64 bytes, so that `Lanes::Store` may stream
// (TF aligns its allocations so; channels are a multiple of the lanes).
bool Streamable(const std::vector<float*>& outputs) {
  return std::all_of(outputs.begin(), outputs.end(), [](float* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 64 == 0;
  });
}

// Makes a worker's streaming stores visible before the op completes.
void FenceStores() {
#if defined(__SSE__)
  _mm_sfence();
#endif
}

// Runs body(begin, end, block) on the op's CPU worker threads for each block
// of kBlockPixels pixels in [0, pixels); `cost` is a pixel's, in cycles. Each
// worker's streaming stores are fenced when its blocks are done.
template <typename Body>
void ForBlocks(OpKernelContext* context, int64_t pixels, int64_t cost,
               Body body) {
  auto* workers = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
  workers->ParallelFor(blocks, cost * kBlockPixels,
                       [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      body(b * kBlockPixels, std::min(pixels, (b + 1) * kBlockPixels), b);
    }
    FenceStores();
  });
}

// Both kernels: the `fns` attribute, parsed once.
class MixKernel : public OpKernel {
 public:
  explicit MixKernel(OpKernelConstruction* context)
      : OpKernel(context), fns_(ParseFns(context)) {}

 protected:
  const std::vector<Fn> fns_;
};

class MixElementwiseOp : public MixKernel {
 public:
  using MixKernel::MixKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& base = context->input(1);
    const Tensor& w = context->input(2);
    const int64_t m = fns_.size();
    OP_REQUIRES(context, w.dims() == 2 && w.dim_size(0) == m,
                InvalidArgument("weights must be [", m, ", K], got ",
                                w.shape().DebugString()));
    const int64_t k = w.dim_size(1);
    OP_REQUIRES(context, x.dims() >= 1 && base.dims() == x.dims(),
                InvalidArgument("x and base must have the same rank"));
    tensorflow::OpInputList pending;
    OP_REQUIRES_OK(context, context->input_list("pending", &pending));
    OP_REQUIRES(context, pending.size() == 0 || pending.size() == k,
                InvalidArgument("pending must be empty or K = ", k,
                                " tensors, got ", pending.size()));
    std::vector<const float*> pend(pending.size());
    for (int64_t j = 0; j < pending.size(); ++j) {
      OP_REQUIRES(context, pending[j].shape() == x.shape(),
                  InvalidArgument("every pending sum must have x's shape"));
      pend[j] = pending[j].flat<float>().data();
    }
    const int64_t c = x.dim_size(x.dims() - 1);
    const int64_t pixels = c ? x.NumElements() / c : 0;
    OP_REQUIRES(context, base.NumElements() == pixels * k * c,
                InvalidArgument("base must be x's shape with K * C channels"));
    tensorflow::OpOutputList ys;
    OP_REQUIRES_OK(context, context->output_list("ys", &ys));
    OP_REQUIRES(context, ys.size() == k,
                InvalidArgument("num_outputs must equal K = ", k));
    std::vector<float*> out(k);
    for (int64_t j = 0; j < k; ++j) {
      Tensor* y = nullptr;
      OP_REQUIRES_OK(context, ys.allocate(j, x.shape(), &y));
      out[j] = y->flat<float>().data();
    }
    const float* xs = x.flat<float>().data();
    const float* bs = base.flat<float>().data();
    const float* ws = w.flat<float>().data();
    const bool stream = Streamable(out);
    const auto& fns = fns_;
    WithLanes(c, [&](auto lanes) {
      using L = decltype(lanes);
      ForBlocks(context, pixels, (m + 3) * k * c * 4,
                [&, c, k, m](int64_t begin, int64_t end, int64_t) {
        std::vector<float> f(m * kChunkPixels * c);
        for (int64_t p0 = begin; p0 < end; p0 += kChunkPixels) {
          const int64_t n = std::min(kChunkPixels, end - p0) * c;
          for (int64_t i = 0; i < m; ++i) {
            Apply(fns[i], xs + p0 * c, n, f.data() + i * n, nullptr);
          }
          // Lanes at a time: y_j = base_j (+ pending_j) + sum_i w[i, j] f_i.
          for (int64_t at = 0; at < n; at += L::kWidth) {
            for (int64_t j = 0; j < k; ++j) {
              typename L::V y = L::Load(bs + ConcatIndex(p0 * c + at, j, k, c));
              if (!pend.empty()) y += L::Load(pend[j] + p0 * c + at);
              for (int64_t i = 0; i < m; ++i) {
                y += L::Splat(ws[i * k + j]) * L::Load(f.data() + i * n + at);
              }
              L::Store(out[j] + p0 * c + at, y, stream);
            }
          }
        }
      });
    });
  }
};

class MixElementwiseGradOp : public MixKernel {
 public:
  using MixKernel::MixKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& w = context->input(1);
    tensorflow::OpInputList dys;
    OP_REQUIRES_OK(context, context->input_list("dys", &dys));
    const int64_t m = fns_.size(), k = dys.size();
    OP_REQUIRES(context, w.dims() == 2 && w.dim_size(0) == m &&
                             w.dim_size(1) == k,
                InvalidArgument("weights must be [", m, ", ", k, "], got ",
                                w.shape().DebugString()));
    for (int64_t j = 0; j < k; ++j) {
      OP_REQUIRES(context, dys[j].shape() == x.shape(),
                  InvalidArgument("every dy must have x's shape"));
    }
    const int64_t c = x.dim_size(x.dims() - 1);
    const int64_t pixels = c ? x.NumElements() / c : 0;
    tensorflow::TensorShape base_shape = x.shape();
    base_shape.set_dim(x.dims() - 1, k * c);
    Tensor *dx = nullptr, *dbase = nullptr, *dw = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(context, context->allocate_output(1, base_shape, &dbase));
    OP_REQUIRES_OK(context, context->allocate_output(2, w.shape(), &dw));
    std::vector<const float*> dy(k);
    for (int64_t j = 0; j < k; ++j) dy[j] = dys[j].flat<float>().data();
    const float* xs = x.flat<float>().data();
    const float* ws = w.flat<float>().data();
    float* dxs = dx->flat<float>().data();
    float* dbs = dbase->flat<float>().data();
    // dw per block, summed in block order: the same result on every run.
    const int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
    std::vector<double> dw_blocks(blocks * m * k, 0.0);
    const bool stream = Streamable({dxs, dbs});
    const auto& fns = fns_;
    WithLanes(c, [&](auto lanes) {
      using L = decltype(lanes);
      using V = typename L::V;
      ForBlocks(context, pixels, (2 * m + 2) * k * c * 4,
                [&, c, k, m](int64_t begin, int64_t end, int64_t block) {
        const int64_t chunk = kChunkPixels * c;
        std::vector<float> f(m * chunk), slope(m * chunk);
        // g_i = sum_j w[i, j] dy_j for the lanes at hand; dw[i, j] = <dy_j,
        // f_i> summed lane-wise over a chunk, then into the block's doubles.
        std::vector<V> g(m), dot(m * k);
        double* dw_part = dw_blocks.data() + block * m * k;
        for (int64_t p0 = begin; p0 < end; p0 += kChunkPixels) {
          const int64_t n = std::min(kChunkPixels, end - p0) * c;
          const int64_t offset = p0 * c;
          for (int64_t i = 0; i < m; ++i) {
            Apply(fns[i], xs + offset, n, f.data() + i * chunk,
                  slope.data() + i * chunk);
          }
          std::fill(dot.begin(), dot.end(), V{});
          for (int64_t at = 0; at < n; at += L::kWidth) {
            std::fill(g.begin(), g.end(), V{});
            for (int64_t j = 0; j < k; ++j) {
              const V d = L::Load(dy[j] + offset + at);
              L::Store(dbs + ConcatIndex(offset + at, j, k, c), d, stream);
              for (int64_t i = 0; i < m; ++i) {
                g[i] += L::Splat(ws[i * k + j]) * d;
                dot[i * k + j] += d * L::Load(f.data() + i * chunk + at);
              }
            }
            // dx = sum_i f_i'(x) g_i.
            V sum{};
            for (int64_t i = 0; i < m; ++i) {
              sum += L::Load(slope.data() + i * chunk + at) * g[i];
            }
            L::Store(dxs + offset + at, sum, stream);
          }
          for (int64_t q = 0; q < m * k; ++q) dw_part[q] += L::Sum(dot[q]);
        }
      });
    });
    float* dws = dw->flat<float>().data();
    for (int64_t i = 0; i < m * k; ++i) {
      double total = 0.0;
      for (int64_t b = 0; b < blocks; ++b) total += dw_blocks[b * m * k + i];
      dws[i] = static_cast<float>(total);
    }
  }
};

}  // namespace

REGISTER_OP("MixElementwise")
    .Input("x: float")
    .Input("base: float")
    .Input("weights: float")
    .Input("pending: num_pending * float")
    .Attr("fns: list(string)")
    .Attr("num_outputs: int >= 1")
    .Attr("num_pending: int >= 0")
    .Output("ys: num_outputs * float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      for (int i = 0; i < c->num_outputs(); ++i) c->set_output(i, c->input(0));
      return tensorflow::OkStatus();
    });

REGISTER_OP("MixElementwiseGrad")
    .Input("x: float")
    .Input("weights: float")
    .Input("dys: num_outputs * float")
    .Attr("fns: list(string)")
    .Attr("num_outputs: int >= 1")
    .Output("dx: float")
    .Output("dbase: float")
    .Output("dw: float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      // dbase: x's shape with K = num_outputs times its channels.
      tensorflow::shape_inference::ShapeHandle x, base;
      tensorflow::shape_inference::DimensionHandle channels;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      TF_RETURN_IF_ERROR(
          c->Multiply(c->Dim(x, -1), c->num_inputs() - 2, &channels));
      TF_RETURN_IF_ERROR(c->ReplaceDim(x, -1, channels, &base));
      c->set_output(0, x);
      c->set_output(1, base);
      c->set_output(2, c->input(1));
      return tensorflow::OkStatus();
    });

REGISTER_KERNEL_BUILDER(
    Name("MixElementwise").Device(tensorflow::DEVICE_CPU), MixElementwiseOp);
REGISTER_KERNEL_BUILDER(
    Name("MixElementwiseGrad").Device(tensorflow::DEVICE_CPU),
    MixElementwiseGradOp);
