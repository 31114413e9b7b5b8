; grammar: tree_sitter_haskell:language
; extensions: .hs
; separator: .
; clauses: joined
(declarations [(function name: [(variable) @name (prefix_id (operator) @name)])
  (bind name: [(variable) @name (prefix_id (operator) @name)])] @definition.function)
(instance_declarations [(function name: [(variable) @name (prefix_id (operator) @name)])
  (bind name: [(variable) @name (prefix_id (operator) @name)])] @definition.function)
(class_declarations [(function name: [(variable) @name (prefix_id (operator) @name)])
  (bind name: [(variable) @name (prefix_id (operator) @name)])] @definition.function)
(data_type name: (name) @name) @definition.type
(newtype name: (name) @name) @definition.type
(type_synonym name: (name) @name) @definition.type
(type_family name: (name) @name) @definition.type
(class name: (name) @name) @definition.interface
; `instance (Eq a) => F.Foldable (Tree a)` is an impl of Foldable for Tree.
(instance name: [(name) @trait (qualified id: (name) @trait)]
  patterns: (type_patterns . [(name) @name (qualified id: (name) @name)
                              (parens type: (apply constructor: [(name) @name (qualified id: (name) @name)]))] .)) @definition.impl
(instance name: [(name) @name (qualified id: (name) @name)]) @definition.impl
