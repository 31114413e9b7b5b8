; grammar: tree_sitter_haskell:language
; extensions: .hs
; separator: .
; clauses: joined
(declarations [(function name: (variable) @name) (bind name: (variable) @name)] @definition.function)
(instance_declarations [(function name: (variable) @name) (bind name: (variable) @name)] @definition.function)
(class_declarations [(function name: (variable) @name) (bind name: (variable) @name)] @definition.function)
(data_type name: (name) @name) @definition.type
(newtype name: (name) @name) @definition.type
(type_synonym name: (name) @name) @definition.type
(type_family name: (name) @name) @definition.type
(class name: (name) @name) @definition.interface
(instance name: (name) @trait patterns: (type_patterns . (name) @name .)) @definition.impl
(instance name: (name) @name) @definition.impl
