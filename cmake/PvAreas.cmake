# PvAreas.cmake - one OBJECT library per area of src/, with the layering
# enforced by the include path.
#
#   pv_area(<name> [LIBRARY] [DEPS <area>...] [LIBS <lib>...] [EXCLUDE <regex>])
#
# declares src/<name>/ as an area that may include (and link) the areas in
# DEPS and everything they may use (the closure is computed here, so DEPS
# lists only the direct edges of the graph). The area's sources
# (src/<name>/*.c, globbed with CONFIGURE_DEPENDS; EXCLUDE drops matching
# files) are compiled exactly once, into the OBJECT library pv_<name>; every
# program or library is linked from these objects.
#
# The include path of pv_<name> is not src/ but ${CMAKE_BINARY_DIR}/layers/<name>/,
# a directory of symbolic links holding <name> and the areas of its closure,
# plus include/ (volley.h). So `#include "mcp/pv_mcp.h"` in src/engine/ is
# "No such file or directory": an upward include fails to build.
#
# LIBRARY marks an area that goes into libvolley (shared and static): its
# objects are position-independent. Every area is compiled with hidden
# visibility and VOLLEY_BUILDING, so only the VOLLEY_API functions of
# include/volley.h are exported by libvolley.so.
#
# LIBS are the area's own external libraries (imported targets or names);
# an area gets those of its closure too, and they reach whatever links its
# objects.
#
# An area without .c files (yet) gets its layer but no target; a later .c
# file in src/<name>/ reconfigures the build through CONFIGURE_DEPENDS.
#
# Global properties set here:
#   PV_AREAS                 areas in declaration order (dependencies first)
#   PV_LIBRARY_AREAS         the LIBRARY areas
#   PV_AREA_<name>_CLOSURE   the areas <name> may use, without <name>
#   PV_AREA_<name>_LIBS      the external libraries of <name> and its closure

# pv_make_layer(<dir> <area>...): <dir> holds one link per area, to src/<area>.
function(pv_make_layer dir)
  file(MAKE_DIRECTORY ${dir})
  file(GLOB stale LIST_DIRECTORIES true ${dir}/*)
  if(stale)
    file(REMOVE ${stale}) # the links only, never what they point to
  endif()
  foreach(a IN LISTS ARGN)
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${a} ${dir}/${a} SYMBOLIC)
  endforeach()
endfunction()

function(pv_area name)
  cmake_parse_arguments(A "LIBRARY" "EXCLUDE" "DEPS;LIBS" ${ARGN})
  get_property(known GLOBAL PROPERTY PV_AREAS)
  if(name IN_LIST known)
    message(FATAL_ERROR "pv_area: ${name} declared twice")
  endif()
  set(closure "")
  set(libs ${A_LIBS})
  foreach(d IN LISTS A_DEPS)
    if(NOT d IN_LIST known)
      message(FATAL_ERROR "pv_area: ${name} depends on ${d}, which is not declared before it")
    endif()
    get_property(dc GLOBAL PROPERTY PV_AREA_${d}_CLOSURE)
    get_property(dl GLOBAL PROPERTY PV_AREA_${d}_LIBS)
    list(APPEND closure ${d} ${dc})
    list(APPEND libs ${dl})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  list(REMOVE_DUPLICATES libs)
  set_property(GLOBAL PROPERTY PV_AREA_${name}_CLOSURE "${closure}")
  set_property(GLOBAL PROPERTY PV_AREA_${name}_LIBS "${libs}")
  set_property(GLOBAL APPEND PROPERTY PV_AREAS ${name})

  # The layer: exactly the area and its closure.
  set(layer ${CMAKE_BINARY_DIR}/layers/${name})
  pv_make_layer(${layer} ${name} ${closure})

  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.c)
  if(A_EXCLUDE)
    list(FILTER srcs EXCLUDE REGEX "${A_EXCLUDE}")
  endif()
  if(NOT srcs)
    return()
  endif()
  add_library(pv_${name} OBJECT ${srcs})
  target_include_directories(pv_${name} PRIVATE ${layer} ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(pv_${name} PRIVATE VOLLEY_BUILDING)
  set_target_properties(pv_${name} PROPERTIES C_VISIBILITY_PRESET hidden)
  if(A_LIBRARY)
    set_target_properties(pv_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    set_property(GLOBAL APPEND PROPERTY PV_LIBRARY_AREAS ${name})
  endif()
  # The external libraries of the area and of those below it (their headers
  # may include e.g. <uv.h>). The objects of the areas below are linked by
  # pv_use_area: CMake links an OBJECT library's objects only into targets
  # that name it directly.
  if(libs)
    target_link_libraries(pv_${name} PUBLIC ${libs})
  endif()
endfunction()

# pv_use_area(<target> <area> [EXTRA <area>...]): <target> is compiled like
# code of <area> (the same layer on its include path) and linked with the
# objects of <area> and of its closure, plus their external libraries. EXTRA
# areas (and their closures) are added to both: the unit tests use pgtmp
# for a throwaway server whatever their area.
function(pv_use_area target area)
  cmake_parse_arguments(U "" "" "EXTRA" ${ARGN})
  get_property(closure GLOBAL PROPERTY PV_AREA_${area}_CLOSURE)
  set(layer ${CMAKE_BINARY_DIR}/layers/${area})
  set(use ${area} ${closure})
  foreach(e IN LISTS U_EXTRA)
    get_property(ec GLOBAL PROPERTY PV_AREA_${e}_CLOSURE)
    list(APPEND use ${e} ${ec})
  endforeach()
  list(REMOVE_DUPLICATES use)
  list(LENGTH use n_use)
  list(LENGTH closure n_own)
  math(EXPR n_own "${n_own} + 1")
  if(n_use GREATER n_own) # EXTRA adds areas: a layer of its own
    string(REPLACE ";" "+" tag "${area};${U_EXTRA}")
    set(layer ${CMAKE_BINARY_DIR}/layers/${tag})
    pv_make_layer(${layer} ${use})
  endif()
  target_include_directories(${target} PRIVATE ${layer} ${CMAKE_SOURCE_DIR}/include)
  foreach(a IN LISTS use)
    if(TARGET pv_${a})
      target_link_libraries(${target} PRIVATE pv_${a})
    endif()
  endforeach()
endfunction()
