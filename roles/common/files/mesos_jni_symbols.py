"""List the Java (JNI) entry points a Mesos native library defines.

Usage: python3 mesos_jni_symbols.py LIBRARY
       python3 mesos_jni_symbols.py --json LIBRARY...

Run by roles/common/tasks/mesos_native_library.yml on the node (for Marathon and Spark, which
load the library named by MESOS_NATIVE_JAVA_LIBRARY), where binutils (nm, readelf) may be
missing: only the Python 3 standard library is used. It reads the ELF dynamic symbol table of
LIBRARY (symlinks are followed), from the .dynsym section, or, when the file has no section
headers, through the PT_DYNAMIC segment (DT_SYMTAB, DT_STRTAB and DT_HASH or DT_GNU_HASH).
Spark's MesosSchedulerDriver needs the functions named Java_org_apache_mesos_*; a symbol
counts only if the library defines it (st_shndx != SHN_UNDEF) with global or weak binding. An
undefined reference to such a name does not provide it.

Prints the defined Java_org_apache_mesos_* names, sorted, one a line, on stdout. With --json it
looks at every LIBRARY given and prints one JSON object instead, library -> {"exit": the exit
code below, "symbols": [...], "message": "..."}, and exits 0 unless the usage is wrong.

Exit codes:
  0  at least one Java_org_apache_mesos_* function is defined (the names are on stdout)
  1  an ELF shared object without any: the Mesos package lacks its Java bindings
  2  usage error, or LIBRARY is missing or unreadable
  3  LIBRARY is not an ELF file, is malformed, or has no dynamic symbol table
Messages for exit codes 1-3 go to stderr.
"""

import json
import struct
import sys

PREFIX = b"Java_org_apache_mesos_"

EXIT_FOUND = 0
EXIT_NO_JNI = 1
EXIT_USAGE = 2
EXIT_NOT_ELF = 3

SHT_DYNSYM = 11
SHN_UNDEF = 0
PT_LOAD = 1
PT_DYNAMIC = 2
DT_NULL = 0
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_SYMENT = 11
DT_GNU_HASH = 0x6FFFFEF5
STB_GLOBAL = 1
STB_WEAK = 2
STB_GNU_UNIQUE = 10


class ElfError(Exception):
    """The file is not an ELF object this script can read."""


class Elf:
    """Just enough of an ELF reader to walk the dynamic symbol table."""

    def __init__(self, handle, size):
        self._handle = handle
        self._size = size
        if self.read(0, min(4, size)) != b"\x7fELF":
            raise ElfError("not an ELF file (no \\x7fELF magic)")
        ident = self.read(0, 16)
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ElfError("unknown ELF class %d or data encoding %d" % (ident[4], ident[5]))
        self.is64 = ident[4] == 2
        self.endian = "<" if ident[5] == 1 else ">"
        word = "Q" if self.is64 else "I"
        header = "HHI" + word * 3 + "IHHHHHH"
        (_type, _machine, _version, _entry, self.phoff, self.shoff, _flags, _ehsize,
         self.phentsize, self.phnum, self.shentsize, self.shnum, _shstrndx) = self.unpack(
            header, 16)
        if self.is64:
            self.shdr_format = "IIQQQQIIQQ"
            self.phdr_format = "IIQQQQQQ"
            self.sym_format = "IBBHQQ"
            self.dyn_format = "qQ"
        else:
            self.shdr_format = "IIIIIIIIII"
            self.phdr_format = "IIIIIIII"
            self.sym_format = "IIIBBH"
            self.dyn_format = "iI"
        self.symsize = struct.calcsize(self.endian + self.sym_format)

    def read(self, offset, size):
        if offset < 0 or size < 0 or offset + size > self._size:
            raise ElfError("truncated or malformed: %d bytes at offset %d lie outside the "
                           "%d-byte file" % (size, offset, self._size))
        self._handle.seek(offset)
        data = self._handle.read(size)
        if len(data) != size:
            raise ElfError("short read at offset %d" % offset)
        return data

    def unpack(self, fmt, offset):
        fmt = self.endian + fmt
        return struct.unpack(fmt, self.read(offset, struct.calcsize(fmt)))

    def sections(self):
        """Every section header, as the tuple _section returns."""
        if self.shoff == 0:
            return []
        count = self.shnum
        if count == 0:
            # Extended numbering: section 0's sh_size holds the real count.
            count = self._section(0)[5]
        return [self._section(i) for i in range(count)]

    def _section(self, index):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
        # sh_addralign, sh_entsize
        return self.unpack(self.shdr_format, self.shoff + index * self.shentsize)

    def segments(self):
        """(type, offset, vaddr, filesz) of every program header."""
        result = []
        for i in range(self.phnum if self.phoff else 0):
            fields = self.unpack(self.phdr_format, self.phoff + i * self.phentsize)
            if self.is64:
                p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align = fields
            else:
                p_type, offset, vaddr, _paddr, filesz, _memsz, _flags, _align = fields
            result.append((p_type, offset, vaddr, filesz))
        return result

    def symbol(self, table, index):
        """(name offset, binding, section index) of one symbol."""
        fields = self.unpack(self.sym_format, table + index * self.symsize)
        if self.is64:
            name, info, _other, shndx, _value, _size = fields
        else:
            name, _value, _size, info, _other, shndx = fields
        return name, info >> 4, shndx

    def string(self, table, table_size, offset):
        if offset >= table_size:
            raise ElfError("symbol name offset %d outside its %d-byte string table"
                           % (offset, table_size))
        end = table + table_size
        chunks = []
        position = table + offset
        while position < end:
            chunk = self.read(position, min(256, end - position))
            stop = chunk.find(b"\0")
            if stop >= 0:
                chunks.append(chunk[:stop])
                return b"".join(chunks)
            chunks.append(chunk)
            position += len(chunk)
        raise ElfError("unterminated symbol name in the string table")


def dynsym_from_sections(elf):
    """(symbols offset, count, strings offset, strings size) from .dynsym, or None."""
    headers = elf.sections()
    for fields in headers:
        sh_type, offset, size, link, entsize = fields[1], fields[4], fields[5], fields[6], fields[9]
        if sh_type != SHT_DYNSYM:
            continue
        if link >= len(headers):
            raise ElfError(".dynsym links to section %d, which does not exist" % link)
        strings = headers[link]
        entsize = entsize or elf.symsize
        if entsize != elf.symsize:
            raise ElfError(".dynsym entries are %d bytes, not %d" % (entsize, elf.symsize))
        return offset, size // entsize, strings[4], strings[5]
    return None


def dynsym_from_segments(elf):
    """The same, found through PT_DYNAMIC (for files without section headers), or None."""
    segments = elf.segments()
    dynamic = [s for s in segments if s[0] == PT_DYNAMIC]
    if not dynamic:
        return None
    loads = [s for s in segments if s[0] == PT_LOAD]

    def file_offset(address):
        for _type, offset, vaddr, filesz in loads:
            if vaddr <= address < vaddr + filesz:
                return address - vaddr + offset
        raise ElfError("address %#x is in no PT_LOAD segment" % address)

    _type, offset, _vaddr, filesz = dynamic[0]
    entry = struct.calcsize(elf.endian + elf.dyn_format)
    tags = {}
    for i in range(filesz // entry):
        tag, value = elf.unpack(elf.dyn_format, offset + i * entry)
        if tag == DT_NULL:
            break
        tags.setdefault(tag, value)
    if DT_SYMTAB not in tags or DT_STRTAB not in tags or DT_STRSZ not in tags:
        return None
    if tags.get(DT_SYMENT, elf.symsize) != elf.symsize:
        raise ElfError("DT_SYMENT is %d, not %d" % (tags[DT_SYMENT], elf.symsize))
    if DT_HASH in tags:
        # nbucket, nchain: nchain is the number of symbols.
        count = elf.unpack("II", file_offset(tags[DT_HASH]))[1]
    elif DT_GNU_HASH in tags:
        count = gnu_hash_symbol_count(elf, file_offset(tags[DT_GNU_HASH]))
    else:
        raise ElfError("PT_DYNAMIC has neither DT_HASH nor DT_GNU_HASH: cannot size the symbols")
    return file_offset(tags[DT_SYMTAB]), count, file_offset(tags[DT_STRTAB]), tags[DT_STRSZ]


def gnu_hash_symbol_count(elf, table):
    """Symbols in .dynsym: one past the last one a DT_GNU_HASH chain reaches."""
    nbuckets, symoffset, bloom_size, _shift = elf.unpack("IIII", table)
    buckets = table + 16 + bloom_size * (8 if elf.is64 else 4)
    last = max(elf.unpack("I" * nbuckets, buckets)) if nbuckets else 0
    if last < symoffset:
        return symoffset
    chains = buckets + 4 * nbuckets
    while not elf.unpack("I", chains + 4 * (last - symoffset))[0] & 1:
        last += 1
    return last + 1


def jni_symbols(elf):
    """(defined Java_org_apache_mesos_* names, undefined ones, dynamic symbol count)."""
    table = dynsym_from_sections(elf) or dynsym_from_segments(elf)
    if table is None:
        raise ElfError("no dynamic symbol table (.dynsym or PT_DYNAMIC): not a shared library")
    symbols, count, strings, strings_size = table
    defined, undefined = set(), set()
    for index in range(1, count):  # entry 0 is the reserved null symbol
        name_offset, binding, shndx = elf.symbol(symbols, index)
        name = elf.string(strings, strings_size, name_offset)
        if not name.startswith(PREFIX):
            continue
        if shndx != SHN_UNDEF and binding in (STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE):
            defined.add(name.decode("ascii", "replace"))
        else:
            undefined.add(name.decode("ascii", "replace"))
    return sorted(defined), sorted(undefined - defined), count


def inspect(path):
    """(exit code, defined names, message) for one library."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            defined, undefined, count = jni_symbols(Elf(handle, size))
    except OSError as error:
        return EXIT_USAGE, [], "%s: cannot read: %s" % (path, error.strerror or error)
    except (ElfError, struct.error) as error:
        return EXIT_NOT_ELF, [], "%s: %s" % (path, error)
    if not defined:
        return EXIT_NO_JNI, [], (
            "%s: none of its %d dynamic symbols defines a Java_org_apache_mesos_* function "
            "(%d undefined references to such names): the library has no Java (JNI) bindings"
            % (path, count, len(undefined)))
    return EXIT_FOUND, defined, ""


def main(argv):
    if len(argv) >= 3 and argv[1] == "--json":
        report = {}
        for path in argv[2:]:
            code, defined, message = inspect(path)
            report[path] = {"exit": code, "symbols": defined, "message": message}
        sys.stdout.write(json.dumps(report) + "\n")  # in the order given
        return EXIT_FOUND
    if len(argv) != 2:
        sys.stderr.write("usage: %s LIBRARY | --json LIBRARY...\n" % argv[0])
        return EXIT_USAGE
    code, defined, message = inspect(argv[1])
    if code != EXIT_FOUND:
        sys.stderr.write(message + "\n")
        return code
    sys.stdout.write("".join(name + "\n" for name in defined))
    return EXIT_FOUND


if __name__ == "__main__":
    sys.exit(main(sys.argv))
