# sog_add_common_plugin(<target> <factory source> [SOURCES extra...] [INCLUDE_DIRS dirs...] [LIBRARIES libs...])
#
# Builds a platform plugin around the Common engine (CommonSOGEngine), the SOGForce kernel and the
# SOGCoulombRealSpaceForce kernel (CommonSOGCoulombRealSpaceKernel); the TorchSOGForce plugins add
# CommonTorchSOGKernels.cpp through SOURCES. The kernel sources (src/kernels/*.cc) are
# embedded as strings, compiled at run time by the platform's ComputeContext, and the plugin is
# installed next to the other platform plugins with a $ORIGIN-relative RUNPATH.
function(sog_add_common_plugin target factory_source)
    cmake_parse_arguments(ARG "" "" "SOURCES;INCLUDE_DIRS;LIBRARIES" ${ARGN})
    set(common_dir ${PROJECT_SOURCE_DIR}/platforms/common)
    set(generated_dir ${CMAKE_CURRENT_BINARY_DIR}/generated)
    file(MAKE_DIRECTORY ${generated_dir})
    file(GLOB kernel_files ${common_dir}/src/kernels/*.cc)
    add_custom_command(
        OUTPUT ${generated_dir}/CommonSOGKernelSources.cpp ${generated_dir}/CommonSOGKernelSources.h
        COMMAND ${CMAKE_COMMAND} -DKERNEL_DIR=${common_dir}/src/kernels -DOUTPUT_DIR=${generated_dir}
                -P ${common_dir}/EncodeKernelFiles.cmake
        DEPENDS ${kernel_files} ${common_dir}/EncodeKernelFiles.cmake)
    add_library(${target} SHARED
        ${factory_source}
        ${ARG_SOURCES}
        ${common_dir}/src/CommonSOGEngine.cpp
        ${common_dir}/src/CommonSOGKernels.cpp
        ${common_dir}/src/CommonSOGCoulombRealSpaceKernel.cpp
        ${generated_dir}/CommonSOGKernelSources.cpp)
    target_include_directories(${target} PRIVATE
        ${CMAKE_CURRENT_SOURCE_DIR}/include ${common_dir}/include ${generated_dir} ${ARG_INCLUDE_DIRS})
    target_link_libraries(${target} PUBLIC OpenMMSOG ${ARG_LIBRARIES})
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "${SOG_RPATH_PLUGIN}")
    install(TARGETS ${target} LIBRARY DESTINATION ${SOG_PLUGIN_DIR} RUNTIME DESTINATION ${SOG_PLUGIN_DIR})
endfunction()
