-- DedupeChannel from "Real-Time Phoenix" (hello_sockets, lib/hello_sockets_web/channels/dedupe_channel.ex):
-- broadcasts of "number" are intercepted, buffered per subscriber, and one second after the first
-- one the unique numbers go out in arrival order, each as a "number" push {value = n}.
local channel = { topic = "dupe", intercept = { "number" } }

function channel.join(topic, payload, socket)
  return phx.ok()
end

-- def handle_out("number", %{number: number}, socket): buffer it, and start the 1 s timer once.
function channel.handle_out(event, payload, socket)
  local buffer = socket.assigns.buffer or {}
  buffer[#buffer + 1] = payload.number
  socket.assigns.buffer = buffer
  if not socket.assigns.awaiting_buffer then
    phx.send_after(socket, 1000, "send_buffer")
    socket.assigns.awaiting_buffer = true
  end
  return phx.noreply()
end

-- def handle_info(:send_buffer, socket): push each unique number, oldest first (Enum.uniq keeps the first).
function channel.handle_info(msg, socket)
  local seen = {}
  for _, number in ipairs(socket.assigns.buffer or {}) do
    local key = tostring(number)
    if not seen[key] then
      seen[key] = true
      phx.push(socket, "number", { value = number })
    end
  end
  socket.assigns.buffer = {}
  socket.assigns.awaiting_buffer = false
  return phx.noreply()
end

return channel
