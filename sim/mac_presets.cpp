// The MAC presets: one row of data each (name, spelling, instruction, validation, sources), read by
// parse_mac, `lpsim info --macs` (the table of docs/gpu-presets.md), lpsim.mac_presets() and the tests.
#include "sim/mac_config.hpp"

namespace lpsim::sim {

namespace {

// Every number has its public source beside it.
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

}  // namespace

const std::vector<MacPreset>& mac_presets() { return kPresets; }

}  // namespace lpsim::sim
