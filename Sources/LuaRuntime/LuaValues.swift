import CLua
import CLuaShim
import PhoenixProtocol

/// A JSON value that cannot be converted, with the Lua path of the offending value:
/// `payload.items[3]: NaN and infinity are not JSON numbers`.
struct ConversionError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A conversion problem found deep inside a value. The path is assembled only when one is thrown,
/// component by component on the way out, so the common (valid) case builds no path strings.
private struct ConversionProblem: Error {
    var problem: String
    /// Innermost first: `[3]`, `.items`.
    var components: [String] = []

    init(_ problem: String, at component: String? = nil) {
        self.problem = problem
        if let component { components.append(component) }
    }

    func error(root: String) -> ConversionError {
        ConversionError(message: root + components.reversed().joined() + ": " + problem)
    }
}

/// Runs `body`, adding `component` to the path of any problem it throws.
private func within<T>(_ component: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch var problem as ConversionProblem {
        problem.components.append(component())
        throw problem
    }
}

// JSONValue ⇄ Lua, directly on the stack (DESIGN.md "JSON ⇄ Lua"):
// - null ⇄ phx.null (nil means absent); integers stay integers, floats stay floats;
// - arrays and objects from JSON carry the phx.array / phx.object tag so [] and {} round-trip;
//   an untagged empty table is an object (payloads are maps);
// - sparse arrays, mixed or non-string keys, NaN/Inf, invalid UTF-8, functions, cycles and
//   over-deep tables are errors naming the path, never silently coerced.
// Every operation here is raw (no metamethods) and runs with the memory cap lifted, so none can
// raise a Lua error into Swift.
extension LuaVM {
    /// Pushes a JSON value.
    func push(_ value: JSONValue) {
        _ = lua_checkstack(L, 3)
        switch value {
        case .null:
            hs_getref(L, internals.null)
        case .bool(let b):
            lua_pushboolean(L, b ? 1 : 0)
        case .integer(let i):
            lua_pushinteger(L, i)
        case .double(let d):
            lua_pushnumber(L, d)
        case .string(let s):
            pushString(s)
        case .array(let items):
            lua_createtable(L, Int32(clamping: items.count), 0)
            for (i, item) in items.enumerated() {
                push(item)
                lua_rawseti(L, -2, Int64(i + 1))
            }
            hs_getref(L, internals.arrayMT)
            lua_setmetatable(L, -2)
        case .object(let members):
            lua_createtable(L, 0, Int32(clamping: members.count))
            for (key, member) in members {
                pushString(key)
                push(member)
                lua_rawset(L, -3)
            }
            hs_getref(L, internals.objectMT)
            lua_setmetatable(L, -2)
        }
    }

    /// Pushes a payload: JSON as above, binary as `phx.binary(bytes)` (a table `{data = bytes}`).
    func push(_ payload: Payload) {
        switch payload {
        case .json(let value):
            push(value)
        case .binary(let bytes):
            lua_createtable(L, 0, 1)
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
            }
            lua_setfield(L, -2, "data")
            hs_getref(L, internals.binaryMT)
            lua_setmetatable(L, -2)
        }
    }

    /// Reads the value at `index` as a payload: `phx.binary(s)` becomes `.binary`, anything
    /// else must be a JSON object (Phoenix 1.4 raises on non-map payloads).
    func readPayload(at index: Int32, path: String) throws -> Payload {
        if lua_type(L, index) == LUA_TTABLE, hasMetatable(at: index, ref: internals.binaryMT) {
            field("data", ofTableAt: index)
            defer { hs_pop(L, 1) }
            guard let bytes = bytes(at: -1) else {
                throw ConversionError(message: "\(path).data: binary data must be a string")
            }
            return .binary(bytes)
        }
        return .json(try readObject(at: index, path: path))
    }

    /// Reads the value at `index` as JSON and requires an object (a map).
    func readObject(at index: Int32, path: String) throws -> JSONValue {
        let value = try readJSON(at: index, path: path)
        guard case .object = value else {
            throw ConversionError(message: "\(path): must be an object (a map), got \(value.kindDescription)")
        }
        return value
    }

    /// Reads the value at `index` as JSON.
    func readJSON(at index: Int32, path: String) throws -> JSONValue {
        let absolute = lua_absindex(L, index)
        do {
            // The chain of enclosing tables lives on the stack: no allocation per conversion.
            return try withUnsafeTemporaryAllocation(of: UnsafeRawPointer.self, capacity: limits.maxValueDepth + 1) {
                try readJSON(at: absolute, depth: 0, ancestors: $0)
            }
        } catch let problem as ConversionProblem {
            throw problem.error(root: path)
        }
    }

    private func readJSON(at index: Int32, depth: Int, ancestors: UnsafeMutableBufferPointer<UnsafeRawPointer>) throws -> JSONValue {
        switch lua_type(L, index) {
        case LUA_TNIL:
            throw ConversionProblem("nil is not a JSON value (use phx.null)")
        case LUA_TBOOLEAN:
            return .bool(lua_toboolean(L, index) != 0)
        case LUA_TNUMBER:
            if hs_isinteger(L, index) != 0 { return .integer(hs_tointeger(L, index)) }
            let d = hs_tonumber(L, index)
            guard d.isFinite else { throw ConversionProblem("NaN and infinity are not JSON numbers") }
            return .double(d)
        case LUA_TSTRING:
            guard let s = validString(at: index) else {
                throw ConversionProblem("string is not valid UTF-8")
            }
            return .string(s)
        case LUA_TTABLE:
            return try readTable(at: index, depth: depth, ancestors: ancestors)
        default:
            throw ConversionProblem("cannot convert \(describe(at: index)) to JSON")
        }
    }

    private enum Tag { case array, object, none }

    private func readTable(at index: Int32, depth: Int, ancestors: UnsafeMutableBufferPointer<UnsafeRawPointer>) throws -> JSONValue {
        if isNull(at: index) { return .null }
        let tag: Tag
        if lua_getmetatable(L, index) == 0 {
            tag = .none
        } else {
            hs_pop(L, 1)
            if hasMetatable(at: index, ref: internals.arrayMT) {
                tag = .array
            } else if hasMetatable(at: index, ref: internals.objectMT) {
                tag = .object
            } else if hasMetatable(at: index, ref: internals.binaryMT) {
                throw ConversionProblem("binary data is only allowed as a whole payload")
            } else if hasMetatable(at: index, ref: internals.resultMT) {
                throw ConversionProblem("cannot convert a phx result (phx.ok/reply/stop…) to JSON")
            } else if let listing = presenceListing(at: index) {
                return listing.value  // an untouched phx.presence.list: the shared list as it is
            } else {
                tag = .none  // a script's own class: converted by content
            }
        }
        guard depth < limits.maxValueDepth else {
            throw ConversionProblem("nested more than \(limits.maxValueDepth) levels deep")
        }
        // The tables enclosing this one are `ancestors[0..<depth]`: a cycle is one of them again.
        guard let pointer = lua_topointer(L, index) else { return .null }
        for i in 0..<depth where ancestors[i] == pointer {
            throw ConversionProblem("table contains itself (a cycle)")
        }
        ancestors[depth] = pointer
        guard lua_checkstack(L, 8) != 0 else {
            throw ConversionProblem("nested too deeply")
        }

        // One pass over the keys to learn the shape.
        var stringKeys: [String] = []
        var integerCount: Int64 = 0
        var maxInteger: Int64 = 0
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            defer { hs_pop(L, 1) }
            switch lua_type(L, -2) {
            case LUA_TSTRING:
                guard let key = validString(at: -2) else {
                    hs_pop(L, 1)
                    throw ConversionProblem("a key is not valid UTF-8")
                }
                stringKeys.append(key)
            case LUA_TNUMBER where hs_isinteger(L, -2) != 0 && hs_tointeger(L, -2) >= 1:
                integerCount += 1
                maxInteger = max(maxInteger, hs_tointeger(L, -2))
            default:
                let key = describeKey(at: -2)
                hs_pop(L, 1)
                throw ConversionProblem("keys must be strings (objects) or 1...n (arrays)", at: "[\(key)]")
            }
        }

        let isArray: Bool
        switch tag {
        case .array:
            if let key = stringKeys.first {
                throw ConversionProblem("an array (phx.array) cannot have string keys", at: pathComponent(key))
            }
            isArray = true
        case .object:
            if integerCount > 0 {
                throw ConversionProblem("an object (phx.object) cannot have integer keys", at: "[\(maxInteger)]")
            }
            isArray = false
        case .none:
            if !stringKeys.isEmpty && integerCount > 0 {
                throw ConversionProblem("mixed string and integer keys (neither array nor object)")
            }
            isArray = integerCount > 0
        }

        if isArray {
            var items: [JSONValue] = []
            items.reserveCapacity(Int(integerCount))
            for i in 1...max(maxInteger, 1) where maxInteger > 0 {
                lua_rawgeti(L, index, i)
                defer { hs_pop(L, 1) }
                if lua_type(L, -1) == LUA_TNIL {
                    throw ConversionProblem("missing element in a sparse array (length \(maxInteger))", at: "[\(i)]")
                }
                items.append(try within("[\(i)]") { try readJSON(at: lua_absindex(L, -1), depth: depth + 1, ancestors: ancestors) })
            }
            return .array(items)
        }
        // Sized at creation: `reserveCapacity` on an empty dictionary ran the stdlib's unspecialized generic code.
        var members = [String: JSONValue](minimumCapacity: stringKeys.count)
        for key in stringKeys {
            pushString(key)
            lua_rawget(L, index)
            defer { hs_pop(L, 1) }
            members[key] = try within(pathComponent(key)) {
                try readJSON(at: lua_absindex(L, -1), depth: depth + 1, ancestors: ancestors)
            }
        }
        return .object(members)
    }

    /// `.name` for identifier keys, `["odd key"]` otherwise.
    private func pathComponent(_ key: String) -> String {
        let isIdentifier = key.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } == true
            && key.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        if isIdentifier { return "." + key }
        let escaped = key.flatMap { $0 == "\\" || $0 == "\"" ? ["\\", $0] : [$0] }.map(String.init).joined()
        return "[\"\(escaped)\"]"
    }

    private func describeKey(at index: Int32) -> String {
        switch lua_type(L, index) {
        case LUA_TNUMBER:
            return hs_isinteger(L, index) != 0 ? "\(hs_tointeger(L, index))" : "\(hs_tonumber(L, index))"
        case LUA_TBOOLEAN:
            return lua_toboolean(L, index) != 0 ? "true" : "false"
        default:
            return "<\(typeName(at: index))>"
        }
    }

    /// "a function", "a phx.timer"…, for messages.
    func describe(at index: Int32) -> String {
        if lua_type(L, index) == LUA_TUSERDATA {
            if hasMetatable(at: index, ref: internals.timerMT) { return "a timer reference" }
            if hasMetatable(at: index, ref: internals.refMT) { return "a socket_ref" }
        }
        let name = typeName(at: index)
        return (name.first.map { "aeiou".contains($0) } == true ? "an " : "a ") + name
    }
}
