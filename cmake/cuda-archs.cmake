# CUDA architectures the plugin is compiled for, unless the caller sets
# CMAKE_CUDA_ARCHITECTURES (e.g. -DCMAKE_CUDA_ARCHITECTURES=90 for a quick
# build on the GPU machine). Must be included before enable_language(CUDA),
# which would otherwise pick the compiler's default.
#
# Every kernel only needs FP16 tensor cores (WMMA 16x16x16), so each entry
# below is about speed and reach, not features.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES
    75-real     # Turing (T4, RTX 20xx): first FP16 tensor cores with FP32 accumulation reachable from WMMA/mma.sync; our floor
    80-real     # Ampere A100: 3rd-gen tensor cores, larger L2 and shared memory (164 KB per SM), async copies
    86-real     # Ampere consumer/workstation (RTX 30xx, A10, A40): sm_80 code runs but is not tuned for its 100 KB shared memory
    89-real     # Ada (RTX 40xx, L4, L40S): 4th-gen tensor cores, large L2
    90-real     # Hopper H100/H200: the benchmark target; 228 KB shared memory per SM, 50 MB L2
    90-virtual  # PTX of sm_90, JIT-compiled by the driver on newer GPUs (Blackwell and later)
  )
endif()
