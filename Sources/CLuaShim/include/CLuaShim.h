#ifndef CLUA_SHIM_H
#define CLUA_SHIM_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/// lua_pcall is a macro: callable from Swift through this.
int hs_lua_pcall(lua_State *L, int nargs, int nresults, int msgh);
#endif
