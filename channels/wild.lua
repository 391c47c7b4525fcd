-- WildcardChannel from "Real-Time Phoenix" (hello_sockets, Phoenix 1.4.6):
-- lib/hello_sockets_web/channels/wildcard_channel.ex.
local channel = { topic = "wild:*" }

-- An integer as String.to_integer/1 reads it: optional sign, digits only.
local function to_integer(part)
  if part:match("^[+-]?%d+$") then return math.tointeger(tonumber(part)) end
  return nil
end

-- def join("wild:" <> numbers, _payload, socket) do
--   if numbers_correct?(numbers), do: {:ok, socket}, else: {:error, %{}}
-- end
-- numbers_correct? splits on ":" and needs exactly two integers with b == 2 * a.
-- Deviation: Phoenix crashes on a non-integer part (String.to_integer raises); our transcript
-- (protocol-unmatched.txt) expects wild:abc:def to be refused with {} instead, so we refuse.
function channel.join(topic, payload, socket)
  local numbers = topic:sub(#"wild:" + 1)
  local parts = {}
  for part in (numbers .. ":"):gmatch("([^:]*):") do parts[#parts + 1] = part end
  if #parts == 2 then
    local a, b = to_integer(parts[1]), to_integer(parts[2])
    if a and b and b == a * 2 then
      return phx.ok()
    end
  end
  return phx.error({})
end

-- def handle_in("ping", _payload, socket) ~> {:reply, {:ok, %{ping: "pong"}}, socket}
-- Any other event has no clause: FunctionClauseError, the channel crashes.
function channel.handle_in(event, payload, socket)
  if event == "ping" then
    return phx.ok({ ping = "pong" })
  end
  error("no handle_in clause for event " .. string.format("%q", event))
end

return channel
