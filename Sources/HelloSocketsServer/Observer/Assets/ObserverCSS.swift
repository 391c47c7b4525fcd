// observer.css: the start page style.
// Embedded as a Swift string so the binary serves it from anywhere, with no resource bundle.
extension ObserverAssets {
    static let observerCSS = #"""
:root {
  --bg: #f4f5f7; --card: #ffffff; --ink: #1d2430; --muted: #667085; --line: #e3e6ea;
  --in: #1f5fbf; --in-bg: #eaf1fc; --out: #16794a; --out-bg: #e7f5ee; --warn: #a15c00; --bad: #b42318;
  --mono: ui-monospace, "SF Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 20px; background: #18202c; color: #fff; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0; font-weight: 650; }
header h1 span { color: #9db4d6; font-weight: 400; }
header code { font-family: var(--mono); font-size: 12.5px; color: #d7e3f5; background: #263243; padding: 2px 8px; border-radius: 4px; }
header .spacer { flex: 1; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #dde3ea; color: #344054; }
.pill.ok { background: #d3f3e1; color: #0f5132; } .pill.bad { background: #fde2e0; color: var(--bad); } .pill.wait { background: #fff1c2; color: var(--warn); }
main { display: grid; grid-template-columns: 320px minmax(0, 1fr); gap: 16px; padding: 16px 20px; align-items: start; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-bottom: 12px; }
.card h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #344054; }
.card h2 .num { display: inline-block; width: 20px; height: 20px; border-radius: 50%; background: #18202c; color: #fff; text-align: center; font-size: 12px; line-height: 20px; margin-right: 6px; }
.card p.intro { margin: 0 0 10px; color: var(--muted); }
aside .card { padding: 10px 12px; }
aside h2 { font-size: 12.5px !important; }
aside label { display: block; font-size: 12px; color: var(--muted); margin: 6px 0 2px; }
aside .row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
input, select, textarea, button { font: inherit; font-size: 13px; }
input, select, textarea { border: 1px solid #cfd4dc; border-radius: 5px; padding: 4px 6px; background: #fff; }
textarea { width: 100%; font-family: var(--mono); font-size: 12px; resize: vertical; }
input[type=number] { width: 56px; }
button { border: 1px solid #b9c2ce; background: #f7f9fb; border-radius: 5px; padding: 4px 10px; cursor: pointer; }
button:hover { background: #e9eef4; }
button.primary { background: #1f5fbf; border-color: #1f5fbf; color: #fff; }
button.danger { border-color: #e4a7a1; color: var(--bad); }
.hint { font-size: 11.5px; color: var(--muted); margin: 4px 0 0; }
#results { list-style: none; margin: 0; padding: 0; font-family: var(--mono); font-size: 11.5px; max-height: 190px; overflow: auto; }
#results li { padding: 3px 0; border-bottom: 1px dashed var(--line); word-break: break-all; }
#results .time { color: var(--muted); }
.status-ok { color: var(--out); } .status-error, .status-timeout { color: var(--bad); } .status-push { color: #7a3cc2; }
/* Handshake */
.hs-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.hs-side h3, .derive h3 { font-size: 13px; margin: 0 0 6px; }
h3 small { color: var(--muted); font-weight: 400; }
.http { font-family: var(--mono); font-size: 11.5px; line-height: 1.35; background: #f7f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; overflow-x: auto; }
.start-line { font-weight: 700; margin-bottom: 4px; color: var(--in); word-break: break-all; }
.start-line.ok { color: var(--out); }
.hline { white-space: pre-wrap; word-break: break-all; color: #475467; }
.hline.hl { color: var(--ink); background: #fff6d6; margin: 0 -4px; padding: 0 4px; border-radius: 3px; }
.hname { font-weight: 600; }
.explain { font-size: 12px; color: var(--muted); margin: 6px 0 0; }
.derive { margin-top: 12px; padding-top: 10px; border-top: 1px solid var(--line); }
.derive ol { margin: 0; padding-left: 22px; }
.derive li { margin: 3px 0; }
.derive code { font-family: var(--mono); font-size: 12px; background: #f1f3f6; padding: 1px 5px; border-radius: 4px; word-break: break-all; }
.derive code.accept { background: #d3f3e1; color: #0f5132; font-weight: 700; }
.check { color: var(--out); font-weight: 600; }
/* Frames */
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 12px; color: #475467; margin: 0 0 10px; }
.legend .field { cursor: default; }
.toolbar { display: flex; justify-content: space-between; align-items: center; margin-bottom: 6px; font-size: 12.5px; color: var(--muted); }
#frames-scroll { max-height: 720px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
thead th { position: sticky; top: 0; background: #eef1f5; text-align: left; font-size: 11.5px; text-transform: uppercase; letter-spacing: .04em; color: #475467; padding: 6px 8px; z-index: 1; }
td { padding: 6px 8px; border-top: 1px solid var(--line); vertical-align: top; }
tr.dir-in { background: var(--in-bg); } tr.dir-out { background: var(--out-bg); }
td.time { font-family: var(--mono); font-size: 11.5px; color: var(--muted); white-space: nowrap; }
td .dir { white-space: nowrap; font-size: 12px; font-weight: 600; font-style: normal; font-family: system-ui, sans-serif; margin-top: 2px; }
.arrow.in { color: var(--in); } .arrow.out { color: var(--out); }
td.hdr { font-family: var(--mono); font-size: 11px; min-width: 230px; width: 230px; }
td.hdr span { white-space: nowrap; display: inline-block; margin: 0 3px 3px 0; padding: 0 5px; border-radius: 3px; border: 1px solid #cfd4dc; background: #fff; color: #98a2b3; }
td.hdr span.on { color: var(--ink); border-color: #98a2b3; }
td.hdr .op { font-weight: 700; color: var(--ink); border-color: #667085; }
td.hdr .op-close { color: var(--bad); border-color: var(--bad); } td.hdr .op-ping, td.hdr .op-pong { color: #7a3cc2; border-color: #b692f6; }
td.hdr .len { color: #475467; border-style: dashed; }
td.what { width: 100%; }
.what-line { margin-bottom: 4px; }
.what-line .note { margin-left: 8px; }
.kind { display: inline-block; font-size: 11.5px; font-weight: 700; padding: 1px 8px; border-radius: 999px; background: #dde3ea; color: #344054; white-space: nowrap; }
.kind-join, .kind-leave { background: #dbe8fb; color: #17468f; }
.kind-reply { background: #ccefdc; color: #0f5132; }
.kind-heartbeat, .kind-heartbeat-reply { background: #eceff3; color: #667085; }
.kind-push { background: #e3e9ff; color: #2d3f9c; }
.kind-server-push { background: #f0e5ff; color: #5b2a9e; }
.kind-broadcast { background: #ffe9cc; color: #8a4b00; }
.kind-presence-state, .kind-presence-diff { background: #dcf5e6; color: #17663b; }
.kind-close, .kind-channel-error, .kind-raw { background: #fde2e0; color: var(--bad); }
.kind-channel-close { background: #fdf0c8; color: #7a5800; }
.note { font-size: 12px; color: #475467; }
.muted { color: var(--muted); }
.payload { font-family: var(--mono); font-size: 12px; word-break: break-all; }
.fields { display: flex; flex-wrap: wrap; gap: 4px; }
.field { display: inline-flex; border: 1px solid #cfd4dc; border-radius: 4px; overflow: hidden; background: #fff; font-family: var(--mono); font-size: 11.5px; }
.fname { background: #eef1f5; color: #475467; padding: 0 5px; font-weight: 600; }
.fvalue { padding: 0 5px; color: var(--ink); max-width: 420px; }
.f-event .fvalue { font-weight: 700; } .f-topic .fvalue { color: #7a3cc2; }
code.raw { white-space: pre-wrap; }
tr.note-row td { background: #fafbfc; font-size: 12px; color: #475467; font-style: italic; }
tr.note-open td { background: #f0f6ff; } tr.note-closed td { background: #fff4f2; } tr.note-dropped td { background: #fff7e0; }
#frames-empty { padding: 16px; color: var(--muted); }
footer { padding: 0 20px 20px; color: var(--muted); font-size: 12px; }
@media (max-width: 1000px) { main { grid-template-columns: 1fr; } .hs-grid { grid-template-columns: 1fr; } }
"""#
}
