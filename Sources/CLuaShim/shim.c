#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "CLuaShim.h"

// How many instructions between two count-hook calls while the budget lasts. Once it is
// exceeded the hook is re-armed to fire on every instruction (see hs_hook).
#define HS_HOOK_STEP 1000

void hs_install_bounded_patterns(lua_State *L);  // patterns.c

static int hs_open_libs(lua_State *L) {
    luaL_openlibs(L);
    hs_install_bounded_patterns(L);
    return 0;
}

// MARK: - Allocator

// Counts every byte and, while script code runs, refuses requests that would cross the cap.
// Lua reacts to a refusal with an emergency full GC and one retry, then raises "not enough
// memory" inside the script's protected call. Swift-side pushes run with `enforce` off so that
// they can never raise (a raise there would longjmp across Swift frames).
static void *hs_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    hs_state *s = (hs_state *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        s->used -= old;
        return NULL;
    }
    if (s->enforce && nsize > old && s->used - old + nsize > s->cap) {
        s->mem_refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) return NULL;
    s->used = s->used - old + nsize;
    return p;
}

hs_state *hs_get_state(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (hs_state *)ud;
}

// MARK: - Instruction budget

// The count hook. Once the budget is gone it re-arms itself to fire on every instruction of
// every thread it runs in and raises each time, so a script that catches the error with pcall
// (or an xpcall handler, or a coroutine) cannot keep running.
static void hs_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    hs_state *s = hs_get_state(L);
    if (!s->active) return;
    s->count += lua_gethookcount(L);
    if (s->exceeded || s->count > s->budget) {
        s->exceeded = 1;
        if (lua_gethookcount(L) != 1) lua_sethook(L, hs_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "instruction budget exceeded");
    }
}

static int hs_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "LuaRuntime: unprotected Lua error: %s\n", msg ? msg : "?");
    return 0;  // Lua aborts after this
}

lua_State *hs_open(size_t memory_cap, long long instruction_budget) {
    hs_state *s = calloc(1, sizeof(hs_state));
    if (s == NULL) return NULL;
    s->cap = memory_cap;
    s->budget = instruction_budget;
    lua_State *L = lua_newstate(hs_alloc, s);
    if (L == NULL) {
        free(s);
        return NULL;
    }
    lua_atpanic(L, hs_panic);
    // Opening the libraries raises only when out of memory, and the cap is not enforced yet;
    // still run it protected so a failure is a NULL return, not an abort.
    lua_pushcfunction(L, hs_open_libs);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        lua_close(L);
        free(s);
        return NULL;
    }
    lua_sethook(L, hs_hook, LUA_MASKCOUNT, HS_HOOK_STEP);
    return L;
}

void hs_close(lua_State *L) {
    hs_state *s = hs_get_state(L);
    lua_close(L);
    free(s);
}

// MARK: - Protected calls

// The message handler: appends a traceback to the error message.
static int hs_msgh(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int hs_call(lua_State *L, int nargs, int nresults) {
    hs_state *s = hs_get_state(L);
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, hs_msgh);
    lua_insert(L, base);
    s->count = 0;
    s->exceeded = 0;
    s->mem_refused = 0;
    lua_sethook(L, hs_hook, LUA_MASKCOUNT, HS_HOOK_STEP);
    int saved_enforce = s->enforce, saved_active = s->active;
    s->enforce = 1;
    s->active = 1;
    int status = lua_pcall(L, nargs, nresults, base);
    s->enforce = saved_enforce;
    s->active = saved_active;
    lua_remove(L, base);
    return status;
}

int hs_resume(lua_State *co, lua_State *from, int nargs, int *nresults) {
    hs_state *s = hs_get_state(co);
    s->count = 0;
    s->exceeded = 0;
    s->mem_refused = 0;
    lua_sethook(co, hs_hook, LUA_MASKCOUNT, HS_HOOK_STEP);
    int saved_enforce = s->enforce, saved_active = s->active;
    s->enforce = 1;
    s->active = 1;
    int status = lua_resume(co, from, nargs, nresults);
    s->enforce = saved_enforce;
    s->active = saved_active;
    if (status != LUA_OK && status != LUA_YIELD) {
        // A dead coroutine keeps its stack: the traceback is read from where the error happened.
        const char *msg = lua_tostring(co, -1);
        if (msg == NULL) msg = lua_pushfstring(co, "(error object is a %s value)", luaL_typename(co, -1));
        luaL_traceback(co, co, msg, 0);
    }
    return status;
}

int hs_where(lua_State *L, int level, char *buf, size_t buflen) {
    lua_Debug ar;
    if (!lua_getstack(L, level, &ar) || !lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) return 0;
    snprintf(buf, buflen, "%s:%d", ar.short_src, ar.currentline);
    return 1;
}

int hs_load(lua_State *L, const char *source, size_t length, const char *chunkname) {
    return luaL_loadbufferx(L, source, length, chunkname, "t");
}

// MARK: - Swift functions

// Calls the Swift function with the cap lifted (its pushes must not raise), then raises its
// error, if any, from C, prefixed with the Lua caller's position like luaL_error does.
static int hs_trampoline(lua_State *L) {
    hs_swift_fn fn = (hs_swift_fn)lua_touserdata(L, lua_upvalueindex(1));
    int fnid = (int)lua_tointeger(L, lua_upvalueindex(2));
    hs_state *s = hs_get_state(L);
    int saved = s->enforce;
    s->enforce = 0;
    int n = fn(L, fnid);
    s->enforce = saved;
    if (n == HS_YIELD) return lua_yield(L, 0);
    if (n < 0) {
        if (lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return n;
}

void hs_push_swift_function(lua_State *L, hs_swift_fn fn, int fnid) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushinteger(L, fnid);
    lua_pushcclosure(L, hs_trampoline, 2);
}

// MARK: - Boxes

// A box's finalizer: hands the pointer back to the host exactly once. Finalizers run inside a
// GC step, possibly in the middle of any allocation: `release` must not touch the Lua state.
static int hs_box_gc(lua_State *L) {
    void (*release)(void *) = (void (*)(void *))lua_touserdata(L, lua_upvalueindex(1));
    void **slot = (void **)lua_touserdata(L, 1);
    if (slot != NULL && *slot != NULL) {
        void *object = *slot;
        *slot = NULL;
        release(object);
    }
    return 0;
}

void hs_push_box_metatable(lua_State *L, void (*release)(void *)) {
    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, (void *)release);
    lua_pushcclosure(L, hs_box_gc, 1);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "phx.box");
    lua_setfield(L, -2, "__metatable");
}

void hs_push_box(lua_State *L, void *object, int metatable_ref) {
    void **slot = (void **)lua_newuserdatauv(L, sizeof(void *), 0);
    *slot = object;
    lua_rawgeti(L, LUA_REGISTRYINDEX, metatable_ref);
    lua_setmetatable(L, -2);
}

void *hs_box_object(lua_State *L, int idx) {
    void **slot = (void **)lua_touserdata(L, idx);
    return slot != NULL ? *slot : NULL;
}

// MARK: - Misc

void hs_gc_collect(lua_State *L) { lua_gc(L, LUA_GCCOLLECT, 0); }
size_t hs_memory_used(lua_State *L) { return hs_get_state(L)->used; }

int hs_function_info(lua_State *L, int idx, char *buf, size_t buflen) {
    lua_Debug ar;
    lua_pushvalue(L, idx);
    if (!lua_getinfo(L, ">S", &ar)) return 0;
    snprintf(buf, buflen, "%s", ar.short_src);
    return ar.linedefined;
}

void hs_pop(lua_State *L, int n) { lua_pop(L, n); }
void hs_newtable(lua_State *L) { lua_newtable(L); }
const char *hs_tostring(lua_State *L, int idx, size_t *len) { return lua_tolstring(L, idx, len); }
int hs_registryindex(void) { return LUA_REGISTRYINDEX; }
int hs_upvalueindex(int i) { return lua_upvalueindex(i); }
void hs_insert(lua_State *L, int idx) { lua_insert(L, idx); }
void hs_remove(lua_State *L, int idx) { lua_remove(L, idx); }
void hs_replace(lua_State *L, int idx) { lua_replace(L, idx); }
int hs_isinteger(lua_State *L, int idx) { return lua_isinteger(L, idx); }
lua_Integer hs_tointeger(lua_State *L, int idx) { return lua_tointeger(L, idx); }
lua_Number hs_tonumber(lua_State *L, int idx) { return lua_tonumber(L, idx); }
int hs_ref(lua_State *L) { return luaL_ref(L, LUA_REGISTRYINDEX); }
void hs_unref(lua_State *L, int ref) { luaL_unref(L, LUA_REGISTRYINDEX, ref); }
void hs_getref(lua_State *L, int ref) { lua_rawgeti(L, LUA_REGISTRYINDEX, ref); }
int hs_noref(void) { return LUA_NOREF; }
