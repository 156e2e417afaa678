# The examples' --device cuda path against their CPU path (registered by
# examples/CMakeLists.txt where CCCL's headers exist):
#   cmake -DCPU_GAN=… -DDEV_GAN=… -DCPU_AE=… -DDEV_AE=… -DCPU_DDPM=… -DDEV_DDPM=… -DCPU_CLF=…
#         -DDEV_CLF=… -DCPU_YOLO=… -DDEV_YOLO=… -DCSV_CLOSE=… -DDATA=tiny_mnist -DWORK=dir
#         -P tests/examples_device.cmake
# DEV_* are the same programs built with the CUDA backend on Thrust's OpenMP device system:
# `--device cuda` runs their models as zoo::cuda::Models on this CPU. Each run must write
# what the CPU run writes, with the same losses (loss.csv, relative 1e-3: float sums in
# another order over a few Adam steps), and a checkpoint written by a CPU run must resume
# on the device to the CPU's own continuation.
cmake_minimum_required(VERSION 3.20)
foreach(v CPU_GAN DEV_GAN CPU_AE DEV_AE CPU_DDPM DEV_DDPM CPU_CLF DEV_CLF CPU_YOLO DEV_YOLO CSV_CLOSE DATA WORK)
  if(NOT ${v})
    message(FATAL_ERROR "examples_device: pass -D${v}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(ENV{OMP_NUM_THREADS} 1)

# go(<program> <out dir> <args>...): must exit 0; stdout kept in ${WORK}/<out>.log
function(go prog out)
  execute_process(COMMAND "${prog}" ${ARGN} --out "${WORK}/${out}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 600)
  file(WRITE "${WORK}/${out}.log" "${o}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${prog} ${ARGN}: exit ${rc}\n${o}\n${e}")
  endif()
endfunction()
# same(<run a> <run b> [<file> [<columns>]]): loss.csv, or <file> (only <columns>), agree.
function(same a b)
  set(file loss.csv)
  if(ARGC GREATER 2)
    set(file "${ARGV2}")
  endif()
  set(columns "")
  if(ARGC GREATER 3)
    set(columns "${ARGV3}")
  endif()
  execute_process(COMMAND "${CSV_CLOSE}" "${WORK}/${a}/${file}" "${WORK}/${b}/${file}" 1e-3 ${columns}
    RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${a} and ${b} differ: ${e}")
  endif()
  message(STATUS "${a} vs ${b}: ${o}")
endfunction()
function(on_device out)
  file(READ "${WORK}/${out}.log" log)
  string(FIND "${log}" "device the host" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${out}: the run did not say it trained on the device")
  endif()
endfunction()
function(wrote out)
  foreach(f ${ARGN})
    if(NOT EXISTS "${WORK}/${out}/${f}")
      message(FATAL_ERROR "${out}: no ${f}")
    endif()
  endforeach()
endfunction()

# Conditional DCGAN: 4 iterations, then a CPU checkpoint continued on the device.
set(gan --variant cdc --data "${DATA}" --threads 1 --batch 16 --samples 16
        --classifier "${WORK}/lenet.safetensors")
go("${CPU_GAN}" gan_cpu ${gan} --iters 4 --device cpu)
go("${DEV_GAN}" gan_dev ${gan} --iters 4 --device cuda)
on_device(gan_dev)
wrote(gan_dev samples_final.png generator.safetensors discriminator.safetensors loss.png)
same(gan_cpu gan_dev)
file(COPY "${WORK}/gan_cpu/" DESTINATION "${WORK}/gan_cross")
go("${CPU_GAN}" gan_cpu ${gan} --iters 6 --resume --device cpu)
go("${DEV_GAN}" gan_cross ${gan} --iters 6 --resume --device cuda)
on_device(gan_cross)
same(gan_cpu gan_cross)

# The BCE VAE (two epochs: test loss, samples from the prior) and the conv autoencoder.
set(ae --data "${DATA}" --threads 1 --batch 16)
go("${CPU_AE}" vae_cpu ${ae} --model vae_bce --epochs 2 --device cpu)
go("${DEV_AE}" vae_dev ${ae} --model vae_bce --epochs 2 --device cuda)
on_device(vae_dev)
wrote(vae_dev checkpoint.safetensors vae_bce.safetensors samples_epoch2.png reconstructions_epoch2.png)
same(vae_cpu vae_dev)
go("${CPU_AE}" conv_cpu ${ae} --model conv_ae --epochs 1 --device cpu)
go("${DEV_AE}" conv_dev ${ae} --model conv_ae --epochs 1 --device cuda)
on_device(conv_dev)
same(conv_cpu conv_dev)

# The DDPM ContextUnet (n_feat 16): one epoch and its DDIM-25 sample grid, then a sampling
# run from the device's checkpoint.
set(ddpm --data "${DATA}" --threads 1 --batch 16 --n-feat 16 --epochs 1)
go("${CPU_DDPM}" ddpm_cpu ${ddpm} --device cpu)
go("${DEV_DDPM}" ddpm_dev ${ddpm} --device cuda)
on_device(ddpm_dev)
wrote(ddpm_dev checkpoint.safetensors samples_epoch1.png loss.png)
same(ddpm_cpu ddpm_dev)
go("${DEV_DDPM}" ddpm_sample --sample --checkpoint "${WORK}/ddpm_dev/checkpoint.safetensors" --sampler ddim
   --steps 5 --per-class 1 --threads 1 --device cuda)
wrote(ddpm_sample samples_ddim5.png samples_ddim5_frames.png)

# The LeNet classifier (2 epochs): trained on the device, scored on the CPU from its file;
# the test accuracy must be the CPU run's (48 test images: steps of 1/48).
set(clf --data "${DATA}" --threads 1 --epochs 2 --retrain)
go("${CPU_CLF}" clf_cpu ${clf} --device cpu)
go("${DEV_CLF}" clf_dev ${clf} --device cuda)
on_device(clf_dev)
wrote(clf_dev tiny_mnist.safetensors)
foreach(run clf_cpu clf_dev)
  file(READ "${WORK}/${run}.log" log)
  string(REGEX MATCH "\ntest accuracy [0-9.]+" acc_${run} "${log}")
  if(NOT acc_${run})
    message(FATAL_ERROR "${run}: no test accuracy line")
  endif()
endforeach()
if(NOT acc_clf_cpu STREQUAL acc_clf_dev)
  message(FATAL_ERROR "classifier: the CPU run's${acc_clf_cpu}, the device run's${acc_clf_dev}")
endif()
message(STATUS "classifier:${acc_clf_dev} on both")

# YOLOv5n on the digits set made from the tiny MNIST (16 train, 8 val canvases): two epochs
# of 2 steps (GroupSGD with clipping and the EMA on the device, the loss on the host); one
# epoch of the AKConv variant; then a CPU checkpoint of epoch 1 continued on the device,
# --eval and --detect on the device.
# results.csv's loss parts and lr must agree (its timings, and P/R/mAP — NMS of a barely
# trained model, where a last-bit difference can move a box across a threshold — are not
# compared); --eval of the device's EMA runs on both and must print one line (at 2 epochs
# both score 0: this checks the device evaluation runs, test_cuda_trainers checks the EMA).
set(yolo --data "${DATA}" --set "${WORK}/digits" --train-images 16 --val-images 8 --batch 8 --threads 1)
go("${CPU_YOLO}" yolo_cpu ${yolo} --epochs 2 --device cpu)
go("${DEV_YOLO}" yolo_dev ${yolo} --epochs 2 --device cuda)
on_device(yolo_dev)
wrote(yolo_dev checkpoint.safetensors ema.safetensors best.safetensors val_epoch2.png)
same(yolo_cpu yolo_dev results.csv "epoch,box,obj,cls,lr")
go("${CPU_YOLO}" akconv_cpu ${yolo} --model yolo_akconv --epochs 1 --device cpu)
go("${DEV_YOLO}" akconv_dev ${yolo} --model yolo_akconv --epochs 1 --device cuda)
on_device(akconv_dev)
same(akconv_cpu akconv_dev results.csv "epoch,box,obj,cls,lr")
go("${CPU_YOLO}" yolo_cpu1 ${yolo} --epochs 1 --device cpu)
go("${DEV_YOLO}" yolo_cpu1 ${yolo} --epochs 2 --resume --device cuda)
on_device(yolo_cpu1)
same(yolo_cpu yolo_cpu1 results.csv "epoch,box,obj,cls,lr")
foreach(d cpu dev)
  string(TOUPPER "${d}" D)
  set(where cpu)
  if(d STREQUAL "dev")
    set(where cuda)
  endif()
  execute_process(COMMAND "${${D}_YOLO}" --eval --checkpoint "${WORK}/yolo_dev/ema.safetensors" --set "${WORK}/digits"
                          --threads 1 --device ${where}
    RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 300)
  string(REGEX MATCH "P [0-9.]+  R [0-9.]+  mAP@0.5 [0-9.]+  mAP@0.5:0.95 [0-9.]+" eval_${d} "${o}")
  if(NOT rc EQUAL 0 OR NOT eval_${d})
    message(FATAL_ERROR "yolo --eval --device ${where}: exit ${rc}\n${o}\n${e}")
  endif()
endforeach()
if(NOT eval_cpu STREQUAL eval_dev)
  message(FATAL_ERROR "yolo --eval: the CPU's '${eval_cpu}', the device's '${eval_dev}'")
endif()
message(STATUS "yolo --eval: ${eval_dev} on both")
file(GLOB pictures "${WORK}/digits/images/val/*")
list(GET pictures 0 picture)
go("${DEV_YOLO}" yolo_detect --detect "${picture}" --checkpoint "${WORK}/yolo_dev/best.safetensors" --conf 0.001
   --threads 1 --device cuda)
get_filename_component(stem "${picture}" NAME_WE)
wrote(yolo_detect "${stem}_det.png")
