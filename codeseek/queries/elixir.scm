; grammar: tree_sitter_elixir:language
; extensions: .ex .exs
; filenames: mix.exs
; separator: .
; clauses: joined
(call target: (identifier) @_def (#eq? @_def "defmodule")
  (arguments . (alias) @name)) @definition.namespace
(call target: (identifier) @_def (#eq? @_def "defprotocol")
  (arguments . (alias) @name)) @definition.interface
(call target: (identifier) @_def (#eq? @_def "defimpl")
  (arguments . (alias) @trait (keywords (pair value: (alias) @name)))) @definition.impl
(call target: (identifier) @_def (#eq? @_def "defimpl")
  (arguments . (alias) @name)) @definition.impl
(call target: (identifier) @_def (#any-of? @_def "def" "defp" "defdelegate" "defguard" "defguardp" "defn" "defnp")
  (arguments . [(call target: (identifier) @name)
                (identifier) @name
                (binary_operator left: (call target: (identifier) @name))])) @definition.function
(call target: (identifier) @_def (#any-of? @_def "defmacro" "defmacrop")
  (arguments . [(call target: (identifier) @name)
                (identifier) @name
                (binary_operator left: (call target: (identifier) @name))])) @definition.macro
