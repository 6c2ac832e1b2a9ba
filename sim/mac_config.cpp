#include "sim/mac_config.hpp"

#include <bit>
#include <charconv>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace lpsim::sim {

namespace {

using arith::Format;
using arith::Kind;
using arith::Mode;
using arith::Rounding;

[[noreturn]] void fail(std::string_view whole, const std::string& why) {
  throw std::invalid_argument("invalid MAC configuration \"" + std::string(whole) + "\": " + why);
}

// Preset table: every number has its public source beside it.
const std::vector<MacPreset> kPresets = {
    {"fp32", "acc=fp32",
     "generic (no device)", "oracle-checked model",
     "IEEE 754 binary32 fused multiply-add chain: exact product, one rounding per addition (RNE)"},
    {"int8.int32", "in=int8,acc=int32,out=fp32",
     "generic (no device)", "oracle-checked model",
     "8-bit integer dot products accumulated in 32-bit integers (e.g. NVIDIA DP4A / IMMA, Intel VNNI), the "
     "int32 result converted to fp32 (RNE) as a dequantizing epilogue does"},
    {"fp16.fp32", "in=fp16,acc=fp32",
     "generic (no device)", "oracle-checked model",
     "fp16 inputs, exact products, fp32 accumulation (mixed-precision training, Micikevicius et al. ICLR "
     "2018)"},
    {"bf16.fp32", "in=bf16,acc=fp32",
     "generic (no device)", "oracle-checked model",
     "bf16 inputs with fp32 accumulation (Kalamkar et al. 2019, 'A study of BFLOAT16 for deep learning "
     "training')"},
    {"fp16.fp16", "in=fp16,acc=fp16",
     "generic (no device)", "oracle-checked model",
     "fp16 inputs and a fp16 accumulator, rounded to nearest after every addition"},
    // ---- NVIDIA tensor cores: one MMA instruction's dot product, as microsoft/MMA-Sim
    // (simulator/nv_ptx.py: steps, arch_accum_fractional_bits = align) and the
    // Khattak-Mikaitis models (MATLAB-tensor-core) define it, validated against
    // their real-GPU data with `lpsim hardware` (docs/gpu-presets.md: per set).
    // Each step: the products and C aligned to the largest exponent, align
    // fraction bits kept (truncated toward zero), added exactly, rounded once:
    // toward zero into fp32 (e8m13 for Ada/Hopper fp8), to nearest into fp16
    // for fp16 results (.f16out), whose C is fp16 too. Edge semantics (docs/gpu-presets.md):
    // overflow=inf (MMA-Sim and Khattak-Mikaitis agree), nan= NVIDIA's canonical NaN 0x7fffffff
    // (MMA-Sim; CUDA's CUDART_NAN_F), fp16 0x7fff held in a float; zero_exp and zero_sign stay IEEE.
    {"volta.fp16", "in=fp16,acc=fp32,acc_round=rz,order=fused4,align=23,overflow=inf,nan=0x7fffffff",
     "mma.sync.m8n8k4 (sm_70)", "0/5000 on V100 fp16",
     "V100 mma.m8n8k4: one fused step of 4 products, 23 alignment bits, fp32 RZ (Fasi, Higham, Mikaitis, "
     "Pranesh, PeerJ CS 2021; MMA-Sim nv_ptx.py)."},
    {"volta.fp16.f16out", "in=fp16,acc=fp16,order=fused4,align=23,nan=0x7fffe000",
     "mma.sync.m8n8k4 (sm_70)", "0/5000 on V100 fp16->fp16",
     "V100 mma.m8n8k4 with fp16 C/D: the fused step rounded once to nearest into fp16 (MMA-Sim)."},
    {"turing.fp16", "in=fp16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k8 (sm_75)", "not validated: no Turing data",
     "Turing mma.m16n8k8 (native shape): one fused step of 8, 24 alignment bits, fp32 RZ (MMA-Sim nv_ptx.py)."
     " A choice: no hardware data here; turing.fp16.m8n8k4 is the 4-product step of Fasi et al. 2021 (T4)"},
    {"turing.fp16.m8n8k4", "in=fp16,acc=fp32,acc_round=rz,order=fused4,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m8n8k4 (sm_75)", "not validated here",
     "Turing mma.m8n8k4: fused steps of 4 (Fasi et al. 2021 for T4), 24 alignment bits (MMA-Sim)"},
    {"ampere.fp16", "in=fp16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k16 (sm_80)", "0/5000 on A100, A2 fp16",
     "A100 mma.m16n8k16: split-k, two fused steps of 8, 24 alignment bits, fp32 RZ between and after (MMA-Sim"
     " is_split_k)."},
    {"ampere.fp16.f16out", "in=fp16,acc=fp16,order=fused8,align=24,nan=0x7fffe000",
     "mma.sync.m16n8k16 (sm_80)", "0/5000 on A100, A2 fp16->fp16",
     "A100 mma.m16n8k16 with fp16 C/D: two fused steps of 8, each rounded to nearest into fp16 (MMA-Sim)."},
    {"ampere.bf16", "in=bf16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k16 (sm_80)", "0/5000 on A100, A2 bf16",
     "A100 mma.m16n8k16 bf16: as ampere.fp16 (MMA-Sim)."},
    {"ampere.tf32", "in=tf32,in_round=rz,acc=fp32,acc_round=rz,order=fused4,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k8 (sm_80)", "0/5000 on A100, A2 tf32",
     "A100 mma.m16n8k8 tf32: split-k, two fused steps of 4, 24 alignment bits; fp32 operands truncated to "
     "tf32 (MMA-Sim truncate_to_tf32)."},
    {"ada.fp16", "in=fp16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k16 (sm_89)", "0/5000 on Ada (RTX), L40S fp16",
     "Ada mma.m16n8k16: as Ampere (MMA-Sim)."},
    {"ada.fp16.f16out", "in=fp16,acc=fp16,order=fused8,align=24,nan=0x7fffe000",
     "mma.sync.m16n8k16 (sm_89)", "0/5000 on Ada, L40S fp16->fp16",
     "Ada mma.m16n8k16 with fp16 C/D, as ampere.fp16.f16out."},
    {"ada.bf16", "in=bf16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k16 (sm_89)", "0/5000 on Ada, L40S bf16",
     "Ada mma.m16n8k16 bf16, as ampere.bf16 (MMA-Sim)."},
    {"ada.tf32", "in=tf32,in_round=rz,acc=fp32,acc_round=rz,order=fused4,align=24,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k8 (sm_89)", "0/5000 on Ada, L40S tf32",
     "Ada mma.m16n8k8 tf32, as ampere.tf32 (MMA-Sim)."},
    {"ada.fp8", "in=fp8e4m3,acc=e8m13,acc_round=rz,order=fused16,align=13,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k32 (sm_89)", "0/5000 on Ada, L40S e4m3",
     "Ada mma.m16n8k32 e4m3: split-k, two fused steps of 16, 13 alignment bits, results truncated to 13 "
     "fraction bits (f32_e8m13; MMA-Sim)."},
    {"ada.fp8e5m2", "in=fp8e5m2,acc=e8m13,acc_round=rz,order=fused16,align=13,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k32 (sm_89)", "0/5000 on Ada, L40S e5m2",
     "Ada mma.m16n8k32 e5m2, as ada.fp8."},
    {"ada.fp8.f16out", "in=fp8e4m3,acc=fp16,order=fused16,align=13,nan=0x7fffe000",
     "mma.sync.m16n8k32 (sm_89)", "0/5000 on Ada e4m3->fp16",
     "Ada mma.m16n8k32 e4m3 with fp16 C/D: two fused steps of 16 (13 bits), each rounded to nearest into fp16"
     " (MMA-Sim)."},
    {"ada.fp8e5m2.f16out", "in=fp8e5m2,acc=fp16,order=fused16,align=13,nan=0x7fffe000",
     "mma.sync.m16n8k32 (sm_89)", "0/5000 on Ada e5m2->fp16",
     "Ada e5m2 with fp16 C/D, as ada.fp8.f16out."},
    {"hopper.fp16", "in=fp16,acc=fp32,acc_round=rz,order=fused16,align=25,overflow=inf,nan=0x7fffffff",
     "wgmma.m64nNk16 (sm_90a)", "0/5000 on H100, H200 fp16; 0/288 vs MMA-Sim edge cases with zero_exp=-126,zero_sign=pos",
     "H100 wgmma.m64nNk16 (and mma.sync m16n8k16: no split-k on sm_90): one fused step of 16, 25 alignment "
     "bits, fp32 RZ (MMA-Sim)."},
    {"hopper.fp16.f16out", "in=fp16,acc=fp16,order=fused16,align=25,nan=0x7fffe000",
     "wgmma.m64nNk16 (sm_90a)", "0/5000 on H100, H200 fp16->fp16; 0/363 vs MMA-Sim edge cases with zero_exp=-126,zero_sign=pos",
     "H100 wgmma k16 with fp16 C/D: one fused step rounded once to nearest into fp16 (MMA-Sim). Earlier lpsim"
     " rounded toward zero into fp32 first (519/5000 H100 vectors wrong)."},
    {"hopper.bf16", "in=bf16,acc=fp32,acc_round=rz,order=fused16,align=25,overflow=inf,nan=0x7fffffff",
     "wgmma.m64nNk16 (sm_90a)", "0/5000 on H100, H200 bf16; 0/342 vs MMA-Sim edge cases with zero_exp=-126,zero_sign=pos",
     "H100 wgmma k16 bf16, as hopper.fp16."},
    {"hopper.tf32", "in=tf32,in_round=rz,acc=fp32,acc_round=rz,order=fused8,align=25,overflow=inf,nan=0x7fffffff",
     "wgmma.m64nNk8 (sm_90a)", "0/5000 on H100, H200 tf32 (k4 data)",
     "H100 wgmma.m64nNk8 tf32: one fused step of 8, 25 alignment bits (MMA-Sim)."},
    {"hopper.fp8", "in=fp8e4m3,acc=e8m13,acc_round=rz,order=fused32,align=13,overflow=inf,nan=0x7fffffff",
     "wgmma.m64nNk32 (sm_90a)", "0/5000 on H100, H200 e4m3 (taken with C = 0); 0/246 vs MMA-Sim edge cases with zero_exp=-126,zero_sign=pos",
     "H100 wgmma.m64nNk32 e4m3: one fused step of 32, 13 alignment bits, result truncated to e8m13 (MMA-Sim)."},
    {"hopper.fp8e5m2", "in=fp8e5m2,acc=e8m13,acc_round=rz,order=fused32,align=13,overflow=inf,nan=0x7fffffff",
     "wgmma.m64nNk32 (sm_90a)", "0/5000 on H100, H200 e5m2 (C = 0)",
     "H100 wgmma k32 e5m2, as hopper.fp8."},
    {"h800.fp8", "in=fp8e4m3,acc=e8m13,acc_round=rz,order=fused32,align=13,promote=128,outer=fp32,overflow=inf,nan=0x7fffffff",
     "wgmma.m64nNk32 (sm_90a), fp32 promotion every 128",
     "steps as hopper.fp8 (0/5000 on H100, H200); the promotion as DeepSeek-V3 describes it, not validated",
     "DeepSeek-V3 technical report (2024), sec. 3.3.2: FP8 GEMM on H800 with promotion of the tensor-core "
     "partial sum to fp32 CUDA-core registers every N_C = 128 elements; each 32-term wgmma step as hopper.fp8"
     " (fused, 13 bits, RZ into e8m13), 4 steps per promotion. Until 2026-12 this preset rounded into e8m13 "
     "after every addition (order=chunk128), wrong on 2220/5000 H100 single instructions: earlier FP8 results"
     " used that model"},
    {"hopper.fp8.mma.f16out", "in=fp8e4m3,acc=fp16,order=fused16,align=25,promote=32,interleave=2,outer=fp16,nan=0x7fffe000",
     "mma.sync.m16n8k32 (sm_90)", "0/5000 on H100/H200 e4m3->fp16",
     "fp8 mma.sync (m16n8k32) on H100/H200: the 32 products in two fused steps of 16 (25 alignment bits), "
     "step 1 the pairs k = 0,1,4,5,.. (interleave=2: the halves of each register), step 2 the others from "
     "step 1's result, each rounded to nearest into fp16; C added last (promote=32), rounded to nearest into "
     "fp16. No public model: inferred here from the data (docs/gpu-presets.md)."},
    {"hopper.fp8e5m2.mma.f16out", "in=fp8e5m2,acc=fp16,order=fused16,align=25,promote=32,interleave=2,outer=fp16,nan=0x7fffe000",
     "mma.sync.m16n8k32 (sm_90)", "0/5000 on H100/H200 e5m2->fp16",
     "fp8 mma.sync (m16n8k32) on H100/H200: the 32 products in two fused steps of 16 (25 alignment bits), "
     "step 1 the pairs k = 0,1,4,5,.. (interleave=2: the halves of each register), step 2 the others from "
     "step 1's result, each rounded to nearest into fp16; C added last (promote=32), rounded to nearest into "
     "fp16. No public model: inferred here from the data (docs/gpu-presets.md)."},
    {"blackwell.fp8.mma", "in=fp8e4m3,acc=fp32,acc_round=rz,order=fused16,align=25,promote=32,interleave=2,outer=fp32,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k32 (sm_100)", "0/5000 on B200 e4m3",
     "fp8 mma.sync (m16n8k32) on B200: the 32 products in two fused steps of 16 (25 alignment bits), step 1 "
     "the pairs k = 0,1,4,5,.. (interleave=2: the halves of each register), step 2 the others from step 1's "
     "result, each rounded toward zero into fp32; C added last (promote=32), rounded to nearest into fp32. No"
     " public model: inferred here from the data (docs/gpu-presets.md)."},
    {"blackwell.fp8.mma.f16out", "in=fp8e4m3,acc=fp16,order=fused16,align=25,promote=32,interleave=2,outer=fp16,nan=0x7fffe000",
     "mma.sync.m16n8k32 (sm_100)", "0/5000 on B200 e4m3->fp16",
     "fp8 mma.sync (m16n8k32) on B200: the 32 products in two fused steps of 16 (25 alignment bits), step 1 "
     "the pairs k = 0,1,4,5,.. (interleave=2: the halves of each register), step 2 the others from step 1's "
     "result, each rounded to nearest into fp16; C added last (promote=32), rounded to nearest into fp16. No "
     "public model: inferred here from the data (docs/gpu-presets.md)."},
    {"blackwell.fp8e5m2.mma", "in=fp8e5m2,acc=fp32,acc_round=rz,order=fused16,align=25,promote=32,interleave=2,outer=fp32,overflow=inf,nan=0x7fffffff",
     "mma.sync.m16n8k32 (sm_100)", "0/5000 on B200 e5m2",
     "fp8 mma.sync (m16n8k32) on B200: the 32 products in two fused steps of 16 (25 alignment bits), step 1 "
     "the pairs k = 0,1,4,5,.. (interleave=2: the halves of each register), step 2 the others from step 1's "
     "result, each rounded toward zero into fp32; C added last (promote=32), rounded to nearest into fp32. No"
     " public model: inferred here from the data (docs/gpu-presets.md)."},
    {"blackwell.fp8e5m2.mma.f16out", "in=fp8e5m2,acc=fp16,order=fused16,align=25,promote=32,interleave=2,outer=fp16,nan=0x7fffe000",
     "mma.sync.m16n8k32 (sm_100)", "0/5000 on B200 e5m2->fp16",
     "fp8 mma.sync (m16n8k32) on B200: the 32 products in two fused steps of 16 (25 alignment bits), step 1 "
     "the pairs k = 0,1,4,5,.. (interleave=2: the halves of each register), step 2 the others from step 1's "
     "result, each rounded to nearest into fp16; C added last (promote=32), rounded to nearest into fp16. No "
     "public model: inferred here from the data (docs/gpu-presets.md)."},
    {"blackwell.fp16", "in=fp16,acc=fp32,acc_round=rz,order=fused16,align=25,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::f16 k16 (sm_100a)", "0/5000 on B200 fp16; 0/288 vs MMA-Sim edge cases with zero_exp=-126,zero_sign=pos",
     "B200 tcgen05.mma k16 (and mma.sync): one fused step of 16, 25 alignment bits, fp32 RZ (MMA-Sim)."},
    {"blackwell.fp16.f16out", "in=fp16,acc=fp16,order=fused16,align=25,nan=0x7fffe000",
     "tcgen05.mma kind::f16 k16 (sm_100a)", "0/5000 on B200 fp16->fp16",
     "B200 k16 with fp16 C/D: rounded once to nearest into fp16 (MMA-Sim)."},
    {"blackwell.bf16", "in=bf16,acc=fp32,acc_round=rz,order=fused16,align=25,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::f16 k16 (sm_100a)", "0/5000 on B200 bf16",
     "B200 tcgen05.mma bf16, as blackwell.fp16."},
    {"blackwell.tf32", "in=tf32,in_round=rz,acc=fp32,acc_round=rz,order=fused8,align=25,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::tf32 k8 (sm_100a)", "0/5000 on B200 tf32 (k4 data)",
     "B200 tcgen05.mma k8 tf32: one fused step of 8, 25 bits (MMA-Sim)."},
    {"blackwell.fp8", "in=fp8e4m3,acc=fp32,acc_round=rz,order=fused32,align=25,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::f8f6f4 k32 (sm_100a)", "not validated: the B200 fp8 data come from mma.sync, which MMA-Sim does not model",
     "B200 tcgen05.mma k32 e4m3: one fused step of 32, 25 alignment bits, full fp32 RZ (MMA-Sim)"},
    {"blackwell.fp8e5m2", "in=fp8e5m2,acc=fp32,acc_round=rz,order=fused32,align=25,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::f8f6f4 k32 (sm_100a)", "not validated (mma.sync data)",
     "B200 tcgen05.mma k32 e5m2, as blackwell.fp8"},
    // ---- NVIDIA block-scaled MMA (tcgen05.mma ... .block_scale, sm_100a), as MMA-Sim models it
    // (simulator/arithmetic.py nv_fused_dot_add / nv_fused_dot_add_with_block_scale). Scales are
    // separate arrays (lpsim.matmul(..., scale_a=, scale_b=); lpsim matmul --scale-a/--scale-b).
    {"blackwell.mxfp8", "in=fp8e4m3,acc=fp32,acc_round=rz,order=fused32,align=25,scale=ue8m0,block=32,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::mxf8f6f4.block_scale k32 (sm_100a)", "model, not validated on a GPU; 0/2000 vs MMA-Sim with zero_exp=-126,zero_sign=pos (0-1 without)",
     "MX fp8 (OCP MX v1.0, ue8m0 scale per 32): one fused step of 32 products whose exponents include both "
     "scales' exponents, C in the alignment, 25 bits, fp32 RZ (MMA-Sim)"},
    {"blackwell.mxfp8e5m2", "in=fp8e5m2,acc=fp32,acc_round=rz,order=fused32,align=25,scale=ue8m0,block=32,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::mxf8f6f4.block_scale k32 (sm_100a)", "model, not validated on a GPU; 0/2000 vs MMA-Sim with zero_exp=-126,zero_sign=pos (0-1 without)",
     "as blackwell.mxfp8 with e5m2 elements"},
    {"blackwell.mxfp6e3m2", "in=fp6e3m2,acc=fp32,acc_round=rz,order=fused32,align=25,scale=ue8m0,block=32,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::mxf8f6f4.block_scale k32 (sm_100a)", "model, not validated on a GPU; 0/2000 vs MMA-Sim with zero_exp=-126,zero_sign=pos (0-1 without)",
     "as blackwell.mxfp8 with e3m2 (fp6) elements"},
    {"blackwell.mxfp6e2m3", "in=fp6e2m3,acc=fp32,acc_round=rz,order=fused32,align=25,scale=ue8m0,block=32,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::mxf8f6f4.block_scale k32 (sm_100a)", "model, not validated on a GPU; 0/2000 vs MMA-Sim with zero_exp=-126,zero_sign=pos (0-1 without)",
     "as blackwell.mxfp8 with e2m3 (fp6) elements"},
    {"blackwell.mxfp4", "in=fp4e2m1,acc=fp32,acc_round=rz,order=fused64,align=35,scale=ue8m0,block=32,subsum=16,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::mxf4.block_scale k64 (sm_100a)", "model, not validated on a GPU; 0/2000 vs MMA-Sim with zero_exp=-126,zero_sign=pos (0-1 without)",
     "MX fp4 (e2m1, ue8m0 scale per 32): 64 products in 4 chunks of 16 summed exactly, each chunk times its "
     "scales one term whose exponent is the scales' alone, fused with C at 35 bits, fp32 RZ (MMA-Sim)"},
    {"blackwell.nvfp4", "in=fp4e2m1,acc=fp32,acc_round=rz,order=fused64,align=35,scale=ue4m3,block=16,subsum=16,overflow=inf,nan=0x7fffffff",
     "tcgen05.mma kind::mxf4nvf4.block_scale k64 (sm_100a)", "model, not validated on a GPU; 0/2000 vs MMA-Sim with zero_exp=-126,zero_sign=pos (0-1 without)",
     "NVFP4 (e2m1, ue4m3 scale per 16): as blackwell.mxfp4 with one e4m3 scale per chunk, whose significand "
     "multiplies the chunk's sum and whose exponent (not below -6) aligns it (MMA-Sim)"},
    // ---- AMD CDNA matrix cores (v_mfma), from the Khattak-Mikaitis models (MATLAB-tensor-core:
    // models/MI100MC.m, MI250MC.m, MI300MC.m at d12a5b3^) and microsoft/MMA-Sim (simulator/amd.py),
    // models not validated here: no AMD hardware data. Each block of `fma` products, with C or the
    // previous block's result, as the model says; the models disagree on CDNA1/2 (both offered).
    {"cdna1.fp16", "in=fp16,acc=fp32,order=fused4,align=exact",
     "v_mfma_f32_*_f16 (MI100, gfx908)", "model, not validated here; 0/2000 vs Khattak-Mikaitis MI100",
     "Khattak-Mikaitis MI100: blocks of 4 products plus C summed exactly and rounded once to nearest into fp32, "
     "subnormals kept (fma = 4, correct_rounding = 1)"},
    {"cdna1.bf16", "in=bf16,acc=fp32,order=fused2,align=exact",
     "v_mfma_f32_*_bf16 (MI100, gfx908)", "model, not validated here; 5/2000 vs Khattak-Mikaitis MI100 (its overflow signs)",
     "Khattak-Mikaitis MI100 bf16: blocks of 2, exact, one rounding to nearest into fp32"},
    {"cdna1.fp16.pairwise", "in=fp16,prod=fp32,acc=fp32,order=pairwise,promote=4",
     "v_mfma_f32_*_f16 (MI100, gfx908)", "model, not validated here; 0/2000 vs MMA-Sim CDNA1",
     "MMA-Sim CDNA1: products of 4 in an fp32 round-to-nearest pairwise tree, each tree added to the "
     "accumulator (from C) with one fp32 rounding to nearest; differs from cdna1.fp16 (Khattak-Mikaitis)"},
    {"cdna1.bf16.pairwise", "in=bf16,prod=fp32,acc=fp32,order=pairwise,promote=2",
     "v_mfma_f32_*_bf16 (MI100, gfx908)", "model, not validated here; 0/2000 vs MMA-Sim CDNA1 (NaN payload aside)",
     "MMA-Sim CDNA1 bf16 (not _1k): pairwise trees of 2, as cdna1.fp16.pairwise"},
    {"cdna2.fp16", "in=fp16:nosub,prod=fp32:nosub,acc=fp32:nosub,order=pairwise,promote=4,outer=fp32:nosub",
     "v_mfma_f32_*_f16 (MI250X/MI210, gfx90a)", "model, not validated here; 0/2000 vs MMA-Sim CDNA2 and vs Khattak-Mikaitis MI250",
     "Khattak-Mikaitis MI250 (and MMA-Sim CDNA2): subnormal inputs flushed, products rounded to fp32 with "
     "flush to zero, a pairwise tree of 4 in fp32 round-to-nearest with flush to zero at every node, the tree "
     "added to the accumulator (from C) likewise. C enters unflushed (the models flush it first: they differ "
     "only for a subnormal C)"},
    {"cdna2.bf16", "in=bf16:nosub,prod=fp32:nosub,acc=fp32:nosub,order=pairwise,promote=4,outer=fp32:nosub",
     "v_mfma_f32_*_bf16_1k (MI250X/MI210, gfx90a)", "model, not validated here; 0/2000 vs MMA-Sim CDNA2 (NaN payload aside); 15/2000 vs Khattak-Mikaitis (overflow signs)",
     "Khattak-Mikaitis MI250 bf16 (fma = 4), as cdna2.fp16; MMA-Sim uses trees of 2 for the non-_1k bf16 "
     "instructions"},
    {"cdna3.fp16", "in=fp16,acc=fp32,order=fused8,align=24,c_late=31,zero_exp=-126,prod_overflow=inf",
     "v_mfma_f32_*_f16 (MI300X, gfx942)", "model, not validated here; 0/2000 vs MMA-Sim CDNA3; 3/2000 vs Khattak-Mikaitis MI300X (infinities, subnormal C)",
     "Khattak-Mikaitis MI300 (= MMA-Sim CDNA3 amd_fused_dot_rd_add): blocks of 8 products aligned among "
     "themselves (24 bits, truncated), their sum floored to 31 bits and C to 24 bits below the larger "
     "exponent (C = 0 counts as 2^-126), added, rounded once to nearest into fp32. Zero products enter the "
     "alignment at -126 as in MMA-Sim (Khattak-Mikaitis drop them)"},
    {"cdna3.bf16", "in=bf16,acc=fp32,order=fused8,align=24,c_late=31,zero_exp=-126,prod_overflow=inf",
     "v_mfma_f32_*_bf16 (MI300X, gfx942)", "model, not validated here; 0/2000 vs MMA-Sim CDNA3; 17/2000 vs Khattak-Mikaitis MI300X (infinities, subnormal C)",
     "Khattak-Mikaitis MI300 / MMA-Sim CDNA3 bf16: as cdna3.fp16 (blocks of 8, late C, round down)"},
    {"cdna3.xf32", "in=tf32,in_round=rz,acc=fp32,order=fused4,align=24,c_late=31,zero_exp=-126,prod_overflow=inf",
     "v_mfma_f32_*_xf32 (MI300X, gfx942)", "model, not validated here; 0/2000 vs MMA-Sim CDNA3; 21/2000 vs Khattak-Mikaitis MI300X (infinities, subnormal C)",
     "as cdna3.fp16 in blocks of 4, fp32 operands truncated to tf32 (MMA-Sim truncate_to_tf32)"},
    {"cdna3.fp8", "in=e4m3fnuz,acc=fp32,order=fused16,align=24,c_late=31,split=2,c_drop=25,zero_exp=-126,prod_overflow=inf",
     "v_mfma_f32_*_fp8_fp8 (MI300X, gfx942)", "model, not validated here; 0/2000 vs MMA-Sim CDNA3; 3/2000 vs Khattak-Mikaitis MI300X (infinities, subnormal C)",
     "Khattak-Mikaitis MI300 fp8 (odd_even_grouping, fp8_fnuz) = MMA-Sim CDNA3 fp8: blocks of 16, even and "
     "odd k fused separately (24 bits), both floored to 24 bits below the larger and added, then as "
     "cdna3.fp16 except that a C more than 25 below is left out"},
    {"cdna3.bf8", "in=e5m2fnuz,acc=fp32,order=fused16,align=24,c_late=31,split=2,c_drop=25,zero_exp=-126,prod_overflow=inf",
     "v_mfma_f32_*_bf8_bf8 (MI300X, gfx942)", "model, not validated here; 0/2000 vs MMA-Sim CDNA3; 10/2000 vs Khattak-Mikaitis MI300X (infinities, subnormal C)",
     "Khattak-Mikaitis MI300 / MMA-Sim CDNA3 bf8: as cdna3.fp8 with e5m2fnuz operands"},
};

bool take_positive(std::string_view s, int& out) {
  if (s.empty() || s.size() > 7) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= 1;
}

int significant_bits(const Format& f) { return f.kind == Kind::Fixed ? f.width : f.man_bits + 1; }

// Checks that a rounding into `f` is exact through the engine's round-to-odd
// step (exact_sum.hpp): at least two bits of a double beyond the format.
void check_target(std::string_view whole, const char* key, const Rounded& r) {
  const Format& f = r.format;
  if (f.kind == Kind::Scaled)
    fail(whole, std::string(key) + "=" + f.spelling + " is a scaled format; the engine takes element formats");
  if (!f.fits_in_double())
    fail(whole, std::string(key) + "=" + f.spelling + " has values a double cannot hold");
  const int p = significant_bits(f);
  if (p > 51) fail(whole, std::string(key) + "=" + f.spelling + " is too precise for exact emulation (at most 51 bits)");
  if (r.rounding.mode == Mode::SR) {
    if (r.rounding.sr_bits == 0)
      fail(whole, std::string(key) + "_round=sr: stochastic rounding of sums needs a bit count, sr<k> with k <= " +
                      std::to_string(51 - p));
    if (r.rounding.sr_bits > 51 - p)
      fail(whole, std::string(key) + "_round=" + r.rounding.spelling() + ": at most sr" + std::to_string(51 - p) +
                      " for " + f.spelling);
  }
}

std::string rounded_spelling(const char* key, const Rounded& r) {
  std::string s = std::string(key) + "=" + r.format.spelling;
  if (r.rounding.mode != Mode::RNE || r.rounding.sr_bits) s += std::string(",") + key + "_round=" + r.rounding.spelling();
  return s;
}

std::string fmt_nan(std::uint32_t bits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "nan=0x%08x", unsigned(bits));
  return buf;
}

}  // namespace

const std::vector<MacPreset>& mac_presets() { return kPresets; }

const Rounded& MacConfig::result() const { return out ? *out : outer ? *outer : acc; }

std::string MacConfig::spelling() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (a && b && a->format == b->format && a->rounding == b->rounding) {
    add(rounded_spelling("in", *a));
  } else {
    if (a) add(rounded_spelling("a", *a));
    if (b) add(rounded_spelling("b", *b));
  }
  if (product) add(rounded_spelling("prod", *product));
  add(rounded_spelling("acc", acc));
  if (order == Order::Pairwise) add("order=pairwise");
  if (order == Order::Pairwise && promote) add("promote=" + std::to_string(promote));
  if (order == Order::Seq && promote) add("order=chunk" + std::to_string(promote));
  if (order == Order::Fused) {
    add("order=fused" + std::to_string(fused_n) + ",align=" + (align_exact ? std::string("exact") : std::to_string(align_bits)));
    if (c_late) add("c_late=" + std::to_string(c_late));
    if (split) add("split=" + std::to_string(split));
    if (c_drop) add("c_drop=" + std::to_string(c_drop));
    if (scale != ScaleKind::None)
      add(std::string("scale=") + (scale == ScaleKind::UE8M0 ? "ue8m0" : "ue4m3") + ",block=" + std::to_string(block));
    if (subsum) add("subsum=" + std::to_string(subsum));
    if (promote) add("promote=" + std::to_string(promote));
    if (interleave) add("interleave=" + std::to_string(interleave));
  }
  if (outer) add(rounded_spelling("outer", *outer));
  if (out) add(rounded_spelling("out", *out));
  if (overflow_inf) add("overflow=inf");
  if (nan_bits) add(fmt_nan(*nan_bits));
  if (zero_exp) add("zero_exp=" + std::to_string(*zero_exp));
  if (zero_plus) add("zero_sign=pos");
  if (prod_inf) add("prod_overflow=inf");
  return s;
}

MacConfig parse_mac(std::string_view whole) {
  if (whole.empty()) fail(whole, "empty");
  // key -> value, in order; a leading preset name expands first.
  std::map<std::string, std::string> kv;
  std::string_view rest = whole;
  {
    const auto comma = rest.find(',');
    const std::string_view first = rest.substr(0, comma);
    if (first.find('=') == std::string_view::npos) {
      const MacPreset* hit = nullptr;
      for (const auto& p : kPresets)
        if (first == p.name) hit = &p;
      if (!hit) {
        std::string names;
        for (const auto& p : kPresets) names += std::string(names.empty() ? "" : ", ") + p.name;
        fail(whole, "unknown preset \"" + std::string(first) + "\" (presets: " + names + ")");
      }
      std::string_view ps = hit->spelling;
      while (!ps.empty()) {
        const auto c = ps.find(',');
        const auto item = ps.substr(0, c);
        const auto eq = item.find('=');
        kv[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
        ps = c == std::string_view::npos ? std::string_view{} : ps.substr(c + 1);
      }
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (comma != std::string_view::npos && rest.empty()) fail(whole, "empty item after ','");
    }
  }
  std::map<std::string, bool> seen;
  while (!rest.empty()) {
    const auto c = rest.find(',');
    const auto item = rest.substr(0, c);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
      fail(whole, std::string("\"").append(item).append("\" is not key=value"));
    const std::string key(item.substr(0, eq));
    if (seen[key]) fail(whole, "key \"" + key + "\" given twice");
    // Overriding one operand of a preset's in=: the preset's in= becomes a= and b=.
    const bool one_side = key == "a" || key == "b" || key == "a_round" || key == "b_round";
    if (one_side && kv.count("in") && !seen["in"]) {
      kv["a"] = kv["b"] = kv["in"];
      kv.erase("in");
      if (kv.count("in_round")) kv["a_round"] = kv["b_round"] = kv["in_round"], kv.erase("in_round");
    }
    seen[key] = true;
    kv[key] = std::string(item.substr(eq + 1));
    if (c != std::string_view::npos && c + 1 == rest.size()) fail(whole, "empty item after ','");
    rest = c == std::string_view::npos ? std::string_view{} : rest.substr(c + 1);
  }
  static const char* kKeys[] = {"in",    "in_round", "a",     "a_round",     "b",   "b_round",   "prod",
                                "prod_round", "acc", "acc_round", "order", "align", "guard", "promote", "interleave",
                                "outer", "outer_round", "out", "out_round", "overflow", "nan", "zero_exp", "zero_sign",
                                "c_late", "split", "c_drop", "prod_overflow", "scale", "block", "subsum"};
  for (const auto& [k, v] : kv) {
    bool known = false;
    for (const char* kk : kKeys) known |= k == kk;
    if (!known)
      fail(whole, "unknown key \"" + k +
                      "\" (keys: in a b prod acc outer out, each with _round; order align guard promote interleave; "
                      "c_late split c_drop scale block subsum overflow nan zero_exp zero_sign prod_overflow)");
  }
  auto get = [&](const char* k) -> const std::string* {
    const auto it = kv.find(k);
    return it == kv.end() ? nullptr : &it->second;
  };
  auto format_of = [&](const char* key, const std::string& v) {
    try {
      return arith::parse_format(v);
    } catch (const std::exception& e) {
      fail(whole, std::string(key) + ": " + e.what());
    }
  };
  auto rounding_of = [&](const std::string& key) {
    const std::string* v = get((key + "_round").c_str());
    if (!v) return Rounding{};
    try {
      return arith::parse_rounding(*v);
    } catch (const std::exception& e) {
      fail(whole, key + "_round: " + e.what());
    }
  };
  auto optional_rounded = [&](const char* key) -> std::optional<Rounded> {
    const std::string* v = get(key);
    if (!v) {
      if (get((std::string(key) + "_round").c_str()))
        fail(whole, std::string(key) + "_round given without " + key);
      return std::nullopt;
    }
    return Rounded{format_of(key, *v), rounding_of(key)};
  };

  MacConfig m;
  if (get("in") && (get("a") || get("b"))) fail(whole, "give either in= or a=/b=, not both");
  if (auto in = optional_rounded("in")) m.a = m.b = in;
  else {
    m.a = optional_rounded("a");
    m.b = optional_rounded("b");
  }
  if (const std::string* p = get("prod"); p && *p == "exact") {
    if (get("prod_round")) fail(whole, "prod_round given with prod=exact");
  } else {
    m.product = optional_rounded("prod");
  }
  m.acc = Rounded{get("acc") ? format_of("acc", *get("acc")) : arith::parse_format("fp32"), rounding_of("acc")};
  const std::string order = get("order") ? *get("order") : "seq";
  if (order == "seq") m.order = Order::Seq;
  else if (order == "pairwise") m.order = Order::Pairwise;
  else if (order.rfind("chunk", 0) == 0) {
    if (!take_positive(std::string_view(order).substr(5), m.promote)) fail(whole, "order=chunk<N> needs N >= 1");
  } else if (order.rfind("fused", 0) == 0) {
    m.order = Order::Fused;
    if (!take_positive(std::string_view(order).substr(5), m.fused_n) || m.fused_n > 4096)
      fail(whole, "order=fused<N> needs N in 1..4096");
  } else {
    fail(whole, "order=" + order + " (expected seq, pairwise, chunk<N> or fused<N>)");
  }
  if (m.order != Order::Fused && (get("align") || get("guard") || get("interleave") || get("c_late") || get("split") ||
                                  get("c_drop") || get("scale") || get("block") || get("subsum")))
    fail(whole, "align, guard, interleave, c_late, split, c_drop, scale, block and subsum belong to order=fused<N>");
  if (m.order == Order::Seq && get("promote"))
    fail(whole, "promote= belongs to order=fused<N> and order=pairwise (seq with promotion every N is order=chunk<N>)");
  auto int_of = [&](const char* key, int lo, int hi) {
    int v = 0;
    const std::string& s = *get(key);
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
      fail(whole, std::string(key) + "=" + s + " (expected an integer in " + std::to_string(lo) + ".." +
                      std::to_string(hi) + ")");
    return v;
  };
  if (m.order == Order::Pairwise && get("promote")) m.promote = int_of("promote", 1, 1 << 24);
  if (m.order == Order::Fused) {
    if (m.acc.format.kind != Kind::Float) fail(whole, "order=fused<N> needs a floating-point accumulator");
    if (get("align") && get("guard")) fail(whole, "give align= or guard=, not both");
    m.align_bits = m.acc.format.man_bits;
    if (get("align") && *get("align") == "exact") {
      // One rounding of the exact sum (sim/exact_sum.hpp): sums held as normal doubles.
      m.align_exact = true;
      if (m.acc.format.min_subnormal() < 0x1p-1022)
        fail(whole, "align=exact needs an accumulator whose values are normal doubles; " + m.acc.format.spelling +
                        " reaches below 2^-1022");
    } else if (get("align")) {
      m.align_bits = int_of("align", 0, 40);
    }
    if (get("guard")) m.align_bits = m.acc.format.man_bits + int_of("guard", -m.acc.format.man_bits, 40 - m.acc.format.man_bits);
    if (get("c_late")) {
      if (m.align_exact) fail(whole, "c_late needs align=<bits>, not align=exact");
      m.c_late = int_of("c_late", m.align_bits, 48);
    }
    if ((get("split") || get("c_drop")) && !m.c_late) fail(whole, "split and c_drop refine c_late=: give c_late too");
    if (get("split")) {
      m.split = int_of("split", 2, 16);
      if (m.fused_n % m.split) fail(whole, "split must divide the fused width");
    }
    if (get("c_drop")) m.c_drop = int_of("c_drop", 1, 300);
    if (get("scale")) {
      const std::string& v = *get("scale");
      if (v == "ue8m0") m.scale = ScaleKind::UE8M0;
      else if (v == "ue4m3") m.scale = ScaleKind::UE4M3;
      else fail(whole, "scale=" + v + " (expected ue8m0 or ue4m3)");
      if (!get("block")) fail(whole, "scale= needs block=<n>, the elements per scale (MX: 32, NVFP4: 16)");
      m.block = int_of("block", 1, 4096);
      if (m.fused_n % m.block && m.block % m.fused_n)
        fail(whole, "block=" + std::to_string(m.block) + " and order=fused" + std::to_string(m.fused_n) +
                        ": one must divide the other");
      if (get("prod") || m.c_late || m.interleave || m.align_exact)
        fail(whole, "scale= combines with neither prod=, c_late, interleave nor align=exact");
    } else if (get("block") || get("subsum")) {
      fail(whole, "block and subsum need scale=ue8m0|ue4m3");
    }
    if (get("subsum")) {
      m.subsum = int_of("subsum", 1, 4096);
      if (m.block % m.subsum || m.fused_n % m.subsum) fail(whole, "subsum must divide both block and the fused width");
    }
    if (get("promote")) {
      m.promote = int_of("promote", 1, 1 << 24);
      if (m.promote % m.fused_n) fail(whole, "promote must be a multiple of the fused width");
    }
    if (get("interleave")) {
      if (!m.promote) fail(whole, "interleave deals a promotion chunk's terms to its steps: it needs promote=");
      if (m.scale != ScaleKind::None) fail(whole, "interleave does not combine with scale=");
      m.interleave = int_of("interleave", 1, m.fused_n);
      if (m.fused_n % m.interleave) fail(whole, "interleave must divide the fused width");
    }
  }
  if (m.promote) m.outer = Rounded{get("outer") ? format_of("outer", *get("outer")) : arith::parse_format("fp32"),
                                   rounding_of("outer")};
  else if (get("outer") || get("outer_round")) fail(whole, "outer= needs promotion (order=chunk<N>, or fused/pairwise with promote=)");
  m.out = optional_rounded("out");
  if (const std::string* v = get("overflow")) {
    if (*v == "inf") m.overflow_inf = true;
    else if (*v != "ieee") fail(whole, "overflow=" + *v + " (expected ieee or inf)");
  }
  if (const std::string* v = get("nan"); v && *v != "ieee") {
    // The float32 bit pattern of every NaN result: 0x + 8 hex digits, a NaN (exponent all ones, fraction != 0).
    std::uint32_t bits = 0;
    const bool hex = v->size() == 10 && (*v)[0] == '0' && ((*v)[1] == 'x' || (*v)[1] == 'X') &&
                     std::from_chars(v->data() + 2, v->data() + v->size(), bits, 16).ptr == v->data() + v->size();
    if (!hex || (bits & 0x7fc00000u) != 0x7fc00000u)
      fail(whole, "nan=" + *v + " (expected ieee, or the float32 bits of a quiet NaN as 0x + 8 hex digits, e.g. nan=0x7fffffff)");
    m.nan_bits = bits;
  }
  if (m.order != Order::Fused && (get("zero_exp") || get("zero_sign") || get("prod_overflow")))
    fail(whole, "zero_exp, zero_sign and prod_overflow belong to order=fused<N> (they change a fused step)");
  if (const std::string* v = get("prod_overflow")) {
    if (*v == "inf") m.prod_inf = true;
    else if (*v != "ieee") fail(whole, "prod_overflow=" + *v + " (expected ieee or inf)");
  }
  if (const std::string* v = get("zero_exp")) {
    int e = 0;
    const auto r = std::from_chars(v->data(), v->data() + v->size(), e);
    if (r.ec != std::errc() || r.ptr != v->data() + v->size() || e < -300 || e > 300)
      fail(whole, "zero_exp=" + *v + " (expected an integer in -300..300, e.g. -126)");
    m.zero_exp = e;
  }
  if (const std::string* v = get("zero_sign")) {
    if (*v == "pos") m.zero_plus = true;
    else if (*v != "ieee") fail(whole, "zero_sign=" + *v + " (expected ieee or pos)");
  }

  for (const char* k : {"a", "b"}) {
    const auto& r = k[0] == 'a' ? m.a : m.b;
    if (r && (r->format.kind == Kind::Scaled || !r->format.fits_in_float()))
      fail(whole, std::string(k) + "=" + r->format.spelling + ": operands must be element formats that fit in a float");
  }
  if (m.subsum) {
    // A run's sum must be exact in a double: the products span at most 53 bits (largest binade of
    // each factor down to its quantum, plus the bits of the run's length).
    auto span = [](const Format& f) { return f.emax() + 1 - (f.emin() - f.man_bits); };
    if (!(m.a && m.b && m.a->format.kind == Kind::Float && m.b->format.kind == Kind::Float))
      fail(whole, "subsum= needs floating-point operand formats (in=, or a= and b=)");
    const int bits = span(m.a->format) + span(m.b->format) + std::bit_width(unsigned(m.subsum - 1));
    if (m.subsum > 1 && bits > 53)
      fail(whole, "subsum=" + std::to_string(m.subsum) + " with " + m.a->format.spelling + " x " + m.b->format.spelling +
                      ": a run's exact sum needs " + std::to_string(bits) + " bits, more than a double's 53 "
                      "(fp4/fp6/e4m3 elements fit)");
  }
  if (m.scale != ScaleKind::None && !(m.a && m.b))
    fail(whole, "scale= needs operand (element) formats: in=, or a= and b=");
  if (m.product) check_target(whole, "prod", *m.product);
  check_target(whole, "acc", m.acc);
  if (m.outer) check_target(whole, "outer", *m.outer);
  if (m.out && m.out->format.kind == Kind::Scaled)
    fail(whole, "out=" + m.out->format.spelling + " must be an element format");
  // Results are delivered as float: the last format must fit (an int32 accumulator needs out=fp32, say).
  if (!m.result().format.fits_in_float())
    fail(whole, "results in " + m.result().format.spelling +
                    " do not fit in a float; add out=<format> (e.g. out=fp32) for the conversion at the end");
  // A wrapping fixed-point accumulator must see bounded products (exact_sum.hpp).
  if (m.acc.format.kind == Kind::Fixed && m.acc.format.wrap &&
      !(m.a && m.b && m.a->format.kind == Kind::Fixed && m.b->format.kind == Kind::Fixed))
    fail(whole, "a wrapping fixed-point accumulator needs fixed-point operand formats (a=, b= or in=)");
  return m;
}

}  // namespace lpsim::sim
