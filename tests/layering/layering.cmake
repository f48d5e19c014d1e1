# layering.cmake - ctest tests (label `build`) that the layering of
# cmake/PvAreas.cmake holds and that the check can fail. Included from the
# top-level CMakeLists.txt after the areas are declared.
#
#   build/layering/<area>            for each built area: its own headers compile
#                                    alone with its flags (self-contained), one
#                                    header of each area below compiles, one
#                                    header of every other area does not, no
#                                    `#include` with "..", and its objects use
#                                    no symbol defined only in an area it may
#                                    not use (nm)
#   build/layering/engine_includes_mcp    an upward include: must fail to compile
#                                         with "No such file" for that header
#   build/layering/engine_includes_stats  a downward include: must compile
#   build/compiled_once              each source of src/ is in
#                                    compile_commands.json exactly once

set(PV_LAYERING_DIR ${CMAKE_CURRENT_LIST_DIR})

# Arguments giving check.cmake the compile flags of pv_<area> (the
# generator expressions include the usage requirements of what it links).
function(pv_layering_flags out area)
  set(${out}
      -DCC=${CMAKE_C_COMPILER}
      "-DINCS=$<TARGET_PROPERTY:pv_${area},INCLUDE_DIRECTORIES>"
      "-DDEFS=$<TARGET_PROPERTY:pv_${area},COMPILE_DEFINITIONS>"
      "-DOPTS=$<TARGET_PROPERTY:pv_${area},COMPILE_OPTIONS>"
      -DPROBE=${PV_LAYERING_DIR}/probe.c
      PARENT_SCOPE)
endfunction()

set(_objs "")
foreach(a IN LISTS PV_AREAS)
  if(TARGET pv_${a})
    list(APPEND _objs "-DOBJS_${a}=$<TARGET_OBJECTS:pv_${a}>")
  endif()
endforeach()

foreach(a IN LISTS PV_AREAS)
  if(NOT TARGET pv_${a})
    continue()
  endif()
  get_property(_closure GLOBAL PROPERTY PV_AREA_${a}_CLOSURE)
  pv_layering_flags(_flags ${a})
  add_test(NAME build/layering/${a}
           COMMAND ${CMAKE_COMMAND} -DMODE=area -DAREA=${a} "-DALLOWED=${_closure}"
                   "-DAREAS=${PV_AREAS}" -DSRC=${CMAKE_SOURCE_DIR}/src -DNM=${CMAKE_NM}
                   ${_flags} ${_objs} -P ${PV_LAYERING_DIR}/check.cmake)
  set_tests_properties(build/layering/${a} PROPERTIES LABELS build TIMEOUT 120)
endforeach()

if(TARGET pv_engine)
  pv_layering_flags(_flags engine)
  add_test(NAME build/layering/engine_includes_mcp
           COMMAND ${CMAKE_COMMAND} -DMODE=probe -DHEADER=mcp/pv_mcp.h ${_flags}
                   -P ${PV_LAYERING_DIR}/check.cmake)
  # Passes only on the compiler's "not found" for that very header (a
  # failure for any other reason, or a success, fails the test).
  set_tests_properties(build/layering/engine_includes_mcp PROPERTIES LABELS build TIMEOUT 60
    PASS_REGULAR_EXPRESSION "mcp/pv_mcp\\.h'?:? (No such file or directory|file not found)")
  add_test(NAME build/layering/engine_includes_stats
           COMMAND ${CMAKE_COMMAND} -DMODE=probe -DHEADER=stats/pv_stat.h ${_flags}
                   -P ${PV_LAYERING_DIR}/check.cmake)
  set_tests_properties(build/layering/engine_includes_stats PROPERTIES LABELS build TIMEOUT 60)
endif()

# Sources deliberately not built in this configuration (PV_WITH_MCP=OFF).
set(_not_built "")
if(NOT TARGET pv_mcp)
  set(_not_built "/src/mcp/|/src/cli/cmd_mcp\\.c$")
endif()
add_test(NAME build/compiled_once
         COMMAND ${CMAKE_COMMAND} -DMODE=once -DSRC=${CMAKE_SOURCE_DIR}/src
                 -DDB=${CMAKE_BINARY_DIR}/compile_commands.json "-DNOT_BUILT=${_not_built}"
                 -P ${PV_LAYERING_DIR}/check.cmake)
set_tests_properties(build/compiled_once PROPERTIES LABELS build TIMEOUT 60)
