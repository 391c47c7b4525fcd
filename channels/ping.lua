-- PingChannel from "Real-Time Phoenix" (hello_sockets, Phoenix 1.4.6):
-- lib/hello_sockets_web/channels/ping_channel.ex, clause for clause.
local channel = {
  -- UserSocket routes both "ping" and "ping:*" to PingChannel.
  topic = { "ping", "ping:*" },
  -- intercept ["request_ping"]: those broadcasts go through handle_out for each subscriber.
  intercept = { "request_ping" },
}

-- def join(_topic, _payload, socket), do: {:ok, socket}
function channel.join(topic, payload, socket)
  return phx.ok()
end

function channel.handle_in(event, payload, socket)
  -- def handle_in("ping", %{"ack_phrase" => ack_phrase}, socket)
  --   ~> {:reply, {:ok, %{ping: ack_phrase}}, socket}
  -- (a map pattern matches any value, so ack_phrase may be any JSON value)
  if event == "ping" and payload.ack_phrase ~= nil then
    return phx.ok({ ping = payload.ack_phrase })
  end

  -- def handle_in("ping", _payload, socket) ~> {:reply, {:ok, %{ping: "pong"}}, socket}
  if event == "ping" then
    return phx.ok({ ping = "pong" })
  end

  -- def handle_in("ping:" <> phrase, _payload, socket) ~> {:reply, {:ok, %{ping: phrase}}, socket}
  if event:sub(1, 5) == "ping:" then
    return phx.ok({ ping = event:sub(6) })
  end

  -- def handle_in("pong", _payload, socket) ~> {:noreply, socket}  (the client's push times out)
  if event == "pong" then
    return phx.noreply()
  end

  -- def handle_in("ding", _payload, socket)
  --   ~> {:stop, :shutdown, {:ok, %{msg: "shutting down"}}, socket}  (reply, then phx_close)
  if event == "ding" then
    return phx.stop("shutdown", phx.ok({ msg = "shutting down" }))
  end

  -- def handle_in("param_ping", %{"error" => true}, socket)
  --   ~> {:reply, {:error, %{reason: "You asked for this!"}}, socket}
  if event == "param_ping" and payload.error == true then
    return phx.error({ reason = "You asked for this!" })
  end

  -- def handle_in("param_ping", payload, socket) ~> {:reply, {:ok, payload}, socket}
  if event == "param_ping" then
    return phx.ok(payload)
  end

  -- No clause matches: Phoenix raises FunctionClauseError and the channel crashes (phx_error).
  error("no handle_in clause for event " .. string.format("%q", event))
end

-- def handle_out("request_ping", payload, socket) do
--   push(socket, "send_ping", Map.put(payload, "from_node", Node.self()))
--   {:noreply, socket}
-- end
function channel.handle_out(event, payload, socket)
  if event == "request_ping" then
    local out = {}
    for k, v in pairs(payload) do out[k] = v end
    out.from_node = phx.node
    phx.push(socket, "send_ping", out)
    return phx.noreply()
  end
  error("no handle_out clause for event " .. string.format("%q", event))
end

return channel
