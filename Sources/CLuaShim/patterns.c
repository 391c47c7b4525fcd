// Step-counted Lua patterns: string.find, string.match, string.gmatch and string.gsub with the
// semantics of Lua 5.4, written for HelloSockets so that every matching step is charged to the
// callback's instruction budget. The stock functions run in C, where the count hook never fires,
// and a backtracking pattern such as ("a"):rep(3e4):find(".-.-.-b") can run for seconds.
#include <ctype.h>
#include <string.h>
#include "CLuaShim.h"

#define PM_MAXCAPTURES 32
#define PM_MAXDEPTH 200
#define PM_CAP_UNFINISHED (-1)
#define PM_CAP_POSITION (-2)
#define PM_CHARGE_EVERY 1024
#define PM_SPECIALS "^$*+?.([%-"

typedef struct {
    const char *src_init, *src_end, *p_end;
    lua_State *L;
    int level, depth;
    long long steps;
    struct { const char *init; ptrdiff_t len; } capture[PM_MAXCAPTURES];
} PM;

// Charges accumulated steps to the budget; raises once it is exhausted (inside a protected call).
static void pm_charge(PM *m) {
    hs_state *s = hs_get_state(m->L);
    if (s->active) {
        s->count += m->steps;
        if (s->exceeded || s->count > s->budget) {
            s->exceeded = 1;
            luaL_error(m->L, "instruction budget exceeded");
        }
    }
    m->steps = 0;
}

static inline void pm_tick(PM *m) {
    if (++m->steps >= PM_CHARGE_EVERY) pm_charge(m);
}

static int class_match(int c, int cl) {
    int res;
    switch (tolower(cl)) {
        case 'a': res = isalpha(c); break;
        case 'c': res = iscntrl(c); break;
        case 'd': res = isdigit(c); break;
        case 'g': res = isgraph(c); break;
        case 'l': res = islower(c); break;
        case 'p': res = ispunct(c); break;
        case 's': res = isspace(c); break;
        case 'u': res = isupper(c); break;
        case 'w': res = isalnum(c); break;
        case 'x': res = isxdigit(c); break;
        case 'z': res = (c == 0); break;  // deprecated in Lua, kept for compatibility
        default: return cl == c;
    }
    if (isupper(cl)) res = !res;
    return res != 0;
}

// The end of the single-character class starting at p.
static const char *class_end(PM *m, const char *p) {
    char c = *p++;
    if (c == '%') {
        if (p >= m->p_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (*p == '^') p++;
        do {  // the first character after '[' or '[^' may be ']'
            if (p >= m->p_end) luaL_error(m->L, "malformed pattern (missing ']')");
            c = *(p++);
            if (c == '%') {
                if (p >= m->p_end) luaL_error(m->L, "malformed pattern (missing ']')");
                p++;
            }
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

// p points at '[', ec at the closing ']'.
static int match_bracket(int c, const char *p, const char *ec) {
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == '%') {
            p++;
            if (class_match(c, (unsigned char)*p)) return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p) return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

static int single_match(PM *m, const char *s, const char *p, const char *ep) {
    if (s >= m->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
        case '.': return 1;
        case '%': return class_match(c, (unsigned char)*(p + 1));
        case '[': return match_bracket(c, p, ep - 1);
        default: return (unsigned char)*p == c;
    }
}

static const char *do_match(PM *m, const char *s, const char *p);

static const char *max_expand(PM *m, const char *s, const char *p, const char *ep) {
    ptrdiff_t i = 0;
    while (single_match(m, s + i, p, ep)) {
        pm_tick(m);
        i++;
    }
    while (i >= 0) {  // try the longest run first, then back off one at a time
        pm_tick(m);
        const char *r = do_match(m, s + i, ep + 1);
        if (r) return r;
        i--;
    }
    return NULL;
}

static const char *min_expand(PM *m, const char *s, const char *p, const char *ep) {
    for (;;) {
        pm_tick(m);
        const char *r = do_match(m, s, ep + 1);
        if (r) return r;
        if (!single_match(m, s, p, ep)) return NULL;
        s++;
    }
}

static const char *start_capture(PM *m, const char *s, const char *p, ptrdiff_t what) {
    if (m->level >= PM_MAXCAPTURES) luaL_error(m->L, "too many captures");
    m->capture[m->level].init = s;
    m->capture[m->level].len = what;
    m->level++;
    const char *r = do_match(m, s, p);
    if (r == NULL) m->level--;
    return r;
}

static const char *end_capture(PM *m, const char *s, const char *p) {
    int l = -1;
    for (int i = m->level - 1; i >= 0; i--) {
        if (m->capture[i].len == PM_CAP_UNFINISHED) {
            l = i;
            break;
        }
    }
    if (l < 0) luaL_error(m->L, "invalid pattern capture");
    m->capture[l].len = s - m->capture[l].init;
    const char *r = do_match(m, s, p);
    if (r == NULL) m->capture[l].len = PM_CAP_UNFINISHED;
    return r;
}

static const char *match_balance(PM *m, const char *s, const char *p) {
    if (p + 1 >= m->p_end) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->src_end || *s != *p) return NULL;
    char b = *p, e = *(p + 1);
    int cont = 1;
    while (++s < m->src_end) {
        pm_tick(m);
        if (*s == e) {
            if (--cont == 0) return s + 1;
        } else if (*s == b) {
            cont++;
        }
    }
    return NULL;
}

static const char *match_capture(PM *m, const char *s, int l) {
    l -= '1';
    if (l < 0 || l >= m->level || m->capture[l].len == PM_CAP_UNFINISHED)
        luaL_error(m->L, "invalid capture index %%%d", l + 1);
    ptrdiff_t len = m->capture[l].len;
    if (len < 0) return NULL;  // a position capture has no text
    if (m->src_end - s >= len && memcmp(m->capture[l].init, s, (size_t)len) == 0) return s + len;
    return NULL;
}

static const char *do_match(PM *m, const char *s, const char *p) {
    if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
    pm_tick(m);
    while (p != m->p_end) {
        switch (*p) {
            case '(':
                if (*(p + 1) == ')') s = start_capture(m, s, p + 2, PM_CAP_POSITION);
                else s = start_capture(m, s, p + 1, PM_CAP_UNFINISHED);
                goto done;
            case ')':
                s = end_capture(m, s, p + 1);
                goto done;
            case '$':
                if (p + 1 == m->p_end) {
                    if (s != m->src_end) s = NULL;
                    goto done;
                }
                goto single;
            case '%':
                switch (*(p + 1)) {
                    case 'b':
                        s = match_balance(m, s, p + 2);
                        if (s != NULL) {
                            p += 4;
                            continue;
                        }
                        goto done;
                    case 'f': {
                        p += 2;
                        if (*p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
                        const char *ep = class_end(m, p);
                        int prev = (s == m->src_init) ? 0 : (unsigned char)*(s - 1);
                        int cur = (s < m->src_end) ? (unsigned char)*s : 0;
                        if (!match_bracket(prev, p, ep - 1) && match_bracket(cur, p, ep - 1)) {
                            p = ep;
                            continue;
                        }
                        s = NULL;
                        goto done;
                    }
                    case '0': case '1': case '2': case '3': case '4':
                    case '5': case '6': case '7': case '8': case '9':
                        s = match_capture(m, s, (unsigned char)*(p + 1));
                        if (s != NULL) {
                            p += 2;
                            continue;
                        }
                        goto done;
                    default:
                        goto single;
                }
            default:
            single: {
                const char *ep = class_end(m, p);
                if (!single_match(m, s, p, ep)) {
                    if (*ep == '*' || *ep == '?' || *ep == '-') {  // these accept zero occurrences
                        p = ep + 1;
                        continue;
                    }
                    s = NULL;
                    goto done;
                }
                switch (*ep) {
                    case '?': {
                        const char *r = do_match(m, s + 1, ep + 1);
                        if (r != NULL) {
                            s = r;
                            goto done;
                        }
                        p = ep + 1;
                        continue;
                    }
                    case '+': s = max_expand(m, s + 1, p, ep); goto done;
                    case '*': s = max_expand(m, s, p, ep); goto done;
                    case '-': s = min_expand(m, s, p, ep); goto done;
                    default:
                        s++;
                        p = ep;
                        continue;
                }
            }
        }
    }
done:
    m->depth++;
    return s;
}

static void pm_init(PM *m, lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
    m->L = L;
    m->src_init = s;
    m->src_end = s + ls;
    m->p_end = p + lp;
    m->steps = 0;
}

static void pm_reset(PM *m) {
    m->level = 0;
    m->depth = PM_MAXDEPTH;
}

// Pushes capture i (or the whole match when there are no captures and i == 0).
static void push_onecapture(PM *m, int i, const char *s, const char *e) {
    if (i >= m->level) {
        if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t l = m->capture[i].len;
    if (l == PM_CAP_UNFINISHED) luaL_error(m->L, "unfinished capture");
    if (l == PM_CAP_POSITION) lua_pushinteger(m->L, (m->capture[i].init - m->src_init) + 1);
    else lua_pushlstring(m->L, m->capture[i].init, (size_t)l);
}

static int push_captures(PM *m, const char *s, const char *e) {
    int n = (m->level == 0 && s != NULL) ? 1 : m->level;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++) push_onecapture(m, i, s, e);
    return n;
}

static size_t start_index(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0) return 1;
    if (pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp) {
    for (size_t i = 0; i < lp; i++) {
        if (p[i] != '\0' && strchr(PM_SPECIALS, p[i]) != NULL) return 1;
    }
    return 0;
}

static int find_aux(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    PM m;
    pm_init(&m, L, s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        // A plain search: linear in the subject, charged by the byte.
        const char *found = NULL;
        if (lp == 0) found = s + init;
        else {
            for (const char *q = s + init; q + lp <= s + ls; q++) {
                pm_tick(&m);
                if (*q == *p && memcmp(q, p, lp) == 0) {
                    found = q;
                    break;
                }
            }
        }
        if (found != NULL) {
            lua_pushinteger(L, (found - s) + 1);
            lua_pushinteger(L, (found - s) + (lua_Integer)lp);
            return 2;
        }
    } else {
        const char *s1 = s + init;
        int anchor = (*p == '^');
        if (anchor) {
            p++;
            m.p_end = p + lp - 1;
        }
        do {
            pm_reset(&m);
            const char *e = do_match(&m, s1, p);
            if (e != NULL) {
                pm_charge(&m);
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1);
                    lua_pushinteger(L, e - s);
                    return push_captures(&m, NULL, NULL) + 2;
                }
                return push_captures(&m, s1, e);
            }
        } while (s1++ < m.src_end && !anchor);
    }
    pm_charge(&m);
    luaL_pushfail(L);
    return 1;
}

static int hs_str_find(lua_State *L) { return find_aux(L, 1); }
static int hs_str_match(lua_State *L) { return find_aux(L, 0); }

// gmatch's iterator. Upvalues: subject, pattern, next start offset, end offset of the last
// match (-1 for none; an empty match right after a match is skipped, as in Lua 5.4).
static int gmatch_aux(lua_State *L) {
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
    PM m;
    pm_init(&m, L, s, ls, p, lp);
    for (const char *src = s + pos; src <= m.src_end; src++) {
        pm_reset(&m);
        const char *e = do_match(&m, src, p);
        if (e != NULL && (last < 0 || e != s + last)) {
            pm_charge(&m);
            lua_pushinteger(L, e - s);
            lua_replace(L, lua_upvalueindex(3));
            lua_pushinteger(L, e - s);
            lua_replace(L, lua_upvalueindex(4));
            return push_captures(&m, src, e);
        }
    }
    pm_charge(&m);
    lua_pushinteger(L, (lua_Integer)ls + 1);  // exhausted: later calls find nothing at once
    lua_replace(L, lua_upvalueindex(3));
    return 0;
}

static int hs_str_gmatch(lua_State *L) {
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) init = ls + 1;
    lua_settop(L, 2);
    lua_pushinteger(L, (lua_Integer)init);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatch_aux, 4);
    return 1;
}

static void add_s(PM *m, luaL_Buffer *b, const char *s, const char *e) {
    lua_State *L = m->L;
    size_t l;
    const char *news = lua_tolstring(L, 3, &l);
    const char *end = news + l;
    for (const char *p = news; p < end; p++) {
        pm_tick(m);
        if (*p != '%') {
            luaL_addchar(b, *p);
            continue;
        }
        p++;
        if (p < end && *p == '%') {
            luaL_addchar(b, '%');
        } else if (p < end && isdigit((unsigned char)*p)) {
            if (*p == '0') {
                luaL_addlstring(b, s, (size_t)(e - s));
            } else {
                push_onecapture(m, *p - '1', s, e);
                luaL_tolstring(L, -1, NULL);
                lua_remove(L, -2);
                luaL_addvalue(b);
            }
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
    }
}

static void add_value(PM *m, luaL_Buffer *b, const char *s, const char *e, int tr) {
    lua_State *L = m->L;
    switch (tr) {
        case LUA_TFUNCTION: {
            lua_pushvalue(L, 3);
            int n = push_captures(m, s, e);
            lua_call(L, n, 1);
            break;
        }
        case LUA_TTABLE:
            push_onecapture(m, 0, s, e);
            lua_gettable(L, 3);
            break;
        default:
            add_s(m, b, s, e);
            return;
    }
    if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        luaL_addvalue(b);
    }
}

static int hs_str_gsub(lua_State *L) {
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                     "string/function/table");
    int anchor = (*p == '^');
    if (anchor) {
        p++;
        lp--;
    }
    PM m;
    pm_init(&m, L, src, ls, p, lp);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *lastmatch = NULL;
    lua_Integer n = 0;
    while (n < max_s) {
        pm_reset(&m);
        const char *e = do_match(&m, src, p);
        if (e != NULL && e != lastmatch) {
            n++;
            add_value(&m, &b, src, e, tr);
            src = lastmatch = e;
        } else if (src < m.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor) break;
    }
    pm_charge(&m);
    luaL_addlstring(&b, src, (size_t)(m.src_end - src));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

/// Replaces string.find/match/gmatch/gsub with the bounded versions and removes string.dump
/// (binary chunks are refused anyway; dump would leak bytecode).
void hs_install_bounded_patterns(lua_State *L) {
    lua_getglobal(L, "string");
    lua_pushcfunction(L, hs_str_find);
    lua_setfield(L, -2, "find");
    lua_pushcfunction(L, hs_str_match);
    lua_setfield(L, -2, "match");
    lua_pushcfunction(L, hs_str_gmatch);
    lua_setfield(L, -2, "gmatch");
    lua_pushcfunction(L, hs_str_gsub);
    lua_setfield(L, -2, "gsub");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
}
