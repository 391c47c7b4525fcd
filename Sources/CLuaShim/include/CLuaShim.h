#ifndef CLUA_SHIM_H
#define CLUA_SHIM_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>

// C side of LuaRuntime. Three jobs:
//  1. Wrap the Lua API macros, which do not import into Swift.
//  2. Enforce the limits: a counting allocator with a per-VM cap, an instruction-count hook, and
//     step-counted string pattern functions (the count hook never fires inside C functions).
//  3. Keep Lua errors (longjmp) away from Swift frames: Swift functions exposed to Lua are called
//     through a C trampoline that raises (or yields) on their behalf, and every call into script
//     code goes through hs_call (lua_pcall with a traceback handler and a fresh budget) or
//     hs_resume (a callback's coroutine, one resume slice under a fresh budget).

/// Per-VM bookkeeping, owned by the VM's allocator. Read-only from Swift except `owner`.
typedef struct hs_state {
    size_t used;              // bytes currently allocated by this lua_State
    size_t cap;               // memory cap, enforced only while `enforce` is set
    int enforce;              // 1 while script code runs; 0 while Swift pushes values
    int active;               // 1 inside hs_call: the hook and pattern functions charge the budget
    int exceeded;             // the instruction budget ran out during the current call
    int mem_refused;          // the allocator refused a request during the current call
    long long budget;         // instructions allowed per hs_call
    long long count;          // instructions (and pattern steps) used in the current call
    void *owner;              // the Swift LuaVM (unretained)
} hs_state;

/// A Swift function callable from Lua: returns the number of results, or -1 after pushing an
/// error message (the trampoline then raises it with the caller's file:line), or HS_YIELD to
/// suspend the calling coroutine (the values given to its next resume become the results).
typedef int (*hs_swift_fn)(lua_State *L, int fnid);

/// What a Swift function returns to yield its coroutine (lua_yield is a longjmp: only C may call it).
#define HS_YIELD (-2)

/// Opens a VM with the counting allocator; NULL when out of memory. Libraries are opened and the
/// string pattern functions replaced by bounded ones; `string.dump` is removed.
lua_State *hs_open(size_t memory_cap, long long instruction_budget);
/// Closes a VM opened with hs_open and frees its bookkeeping.
void hs_close(lua_State *L);
/// The VM's bookkeeping.
hs_state *hs_get_state(lua_State *L);

/// Calls the function below `nargs` arguments under lua_pcall with a traceback handler, a fresh
/// instruction budget and the memory cap enforced. Returns the lua_pcall status; on error the
/// message (with traceback) is on top.
int hs_call(lua_State *L, int nargs, int nresults);

/// Resumes coroutine `co` (a thread with the function and its `nargs` arguments, or the values
/// for a yielded call, on its stack) for one slice: a fresh instruction budget, the memory cap
/// enforced. Returns LUA_OK (finished: `*nresults` results on co's stack), LUA_YIELD (a Swift
/// function suspended it), or an error status with the message and a traceback on co's top.
int hs_resume(lua_State *co, lua_State *from, int nargs, int *nresults);

/// `chunkname:line` of the function `level` levels up co's stack (1: the Lua code that called the
/// running C function) into `buf`; 0 when there is no such level or it is not Lua code.
int hs_where(lua_State *L, int level, char *buf, size_t buflen);

/// Loads a text chunk (binary chunks are refused) named `chunkname` ("@channels/ping.lua").
/// Never raises. Returns the lua_load status; the function or the error message is on top.
int hs_load(lua_State *L, const char *source, size_t length, const char *chunkname);

/// Pushes a Swift function as a Lua C closure (through the raising trampoline).
void hs_push_swift_function(lua_State *L, hs_swift_fn fn, int fnid);

/// Pushes a new metatable for boxes: full userdata holding one pointer to an object the host owns a
/// reference to. Its `__gc` calls `release(pointer)` once, when Lua collects the box (or closes the VM).
void hs_push_box_metatable(lua_State *L, void (*release)(void *));
/// Pushes a box holding `object`, with the metatable at registry ref `metatable_ref`.
void hs_push_box(lua_State *L, void *object, int metatable_ref);
/// The pointer held by the box at `idx` (NULL once released); the caller checks the metatable first.
void *hs_box_object(lua_State *L, int idx);

/// Full garbage collection (lua_gc is variadic).
void hs_gc_collect(lua_State *L);
/// Bytes in use by the VM.
size_t hs_memory_used(lua_State *L);

/// Source and line where the function at `idx` is defined, written into `buf` ("channels/x.lua").
int hs_function_info(lua_State *L, int idx, char *buf, size_t buflen);

// Macro wrappers.
void hs_pop(lua_State *L, int n);
void hs_newtable(lua_State *L);
const char *hs_tostring(lua_State *L, int idx, size_t *len);
int hs_registryindex(void);
int hs_upvalueindex(int i);
void hs_insert(lua_State *L, int idx);
void hs_remove(lua_State *L, int idx);
void hs_replace(lua_State *L, int idx);
int hs_isinteger(lua_State *L, int idx);
lua_Integer hs_tointeger(lua_State *L, int idx);
lua_Number hs_tonumber(lua_State *L, int idx);
int hs_ref(lua_State *L);
void hs_unref(lua_State *L, int ref);
void hs_getref(lua_State *L, int ref);
int hs_noref(void);

#endif
