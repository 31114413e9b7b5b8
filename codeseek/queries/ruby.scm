; grammar: tree_sitter_ruby:language
; extensions: .rb .rake .gemspec
; filenames: Rakefile Gemfile
; separator: .
(class name: (_) @name) @definition.class
(module name: (_) @name) @definition.namespace
(method name: (_) @name) @definition.function
(singleton_method name: (_) @name) @definition.function
