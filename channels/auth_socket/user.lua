-- AuthChannel from "Real-Time Phoenix" (auth_channel.ex): "user:<id>" may be joined only by that user.
local channel = { topic = "user:*", intercept = { "push_timed" } }

function channel.join(topic, payload, socket)
  local requested = topic:sub(#"user:" + 1)
  if requested == tostring(socket.assigns.user_id) then return phx.ok() end
  print("AuthChannel failed " .. requested .. " != " .. tostring(socket.assigns.user_id))
  return phx.error({ reason = "unauthorized" })
end

-- The book's pipeline broadcasts push_timed {data = ..., at = enqueued_at}; the client gets only data.
function channel.handle_out(event, payload, socket)
  if event == "push_timed" then
    phx.push(socket, "push_timed", payload.data or {})
  end
  return phx.noreply()
end

return channel
