"""The realtime stack: one WebSocket conversation with the Sayna server.

Everything here is private; :mod:`sayna` re-exports what is public. Each layer
imports only the ones below it::

    connect      Sayna.connect(): validate, open, send the config, wait for ready
      connect_retry  connect(retry=...): the first upgrade tried again when busy
      session    the public Session: sends, consumers, conveniences' core methods
      callbacks  Session's base: on/off and the official SDK's register_on_* names
      readyfacts Session's base: the properties of the ready event
      conversing Session's base: listen/turns, speak_stream, say/stream_audio/
                 transcribe (thin faces of the conversation modules)
      commands   the argument checks of the send methods
        core     the session's states and transitions (connect, ready, drop,
                 reconnect attempts, close); born whole, one per session;
                 the drop and the attempts in recovery, below
          recovery   the core's transitions after a drop: the connection
                     ended, the reconnect attempts (functions over the core)
          states     the State enum and its groups (open, live)
          dispatch   callbacks: handler registry, dispatcher thread, replay
          consumers  the events() iterator and one-event polls (wait_for)
          turnreader listen()/turns(): user turns through a passive cursor,
                     opened by the first call (SessionTurns)
          bargein    the barge-in policy and the guard the reader applies
          eventlog   the event log and its cursors, bounded
            cursor   a consumer's place in the log, and its site in user code
          sending    the send rules: which connection, waits and drops in a gap
          reconnect  the policy value: backoff, what is resumable
          registry   the process's open sessions, closed at interpreter exit
          stats      counters and speech timings
          hearing    whether the audio sent has been answered (finish())
          connection one socket: reader thread, locked sends, close, pings
            keepalive  the process-wide pinger thread
            opening    TCP, proxy, TLS and the upgrade (RealtimeSettings)
            protocol   close codes, ping bookkeeping, describing an end
              frames     the bounded frame parser and writer
              handshake  the bounded reader of the upgrade answer

Threads (all daemon)::

    thread              one per      owns / runs
    sayna-reader-N      connection   the receiving side of the socket; decodes
                                     frames and appends events to the log
    sayna-dispatch-N    session      user callbacks, in arrival order (started
                                     with the first callback)
    sayna-reconnect-N   drop         the reconnect attempts (opt-in; recovery)
    sayna-speak-stream  reply        speak_stream(): reads events while the
                                     caller's iterable produces text
    sayna-close         session      Sayna.close() of several sessions, one
                                     thread each, in parallel
    sayna-keepalive     process      pings every quiet connection
    user threads        -            sends (under the connection's lock),
                                     iterators, waits, close()

The threads hold the core, never the public Session, so that an abandoned
session can be garbage-collected (and warned about).
"""
