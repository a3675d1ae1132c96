"""Labelled licence texts for the detector tests (short canonical texts in full; long ones by
their distinctive passages), and the variations real repositories show."""
from __future__ import annotations

import textwrap

MIT = """MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions
of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
"""

_BSD_HEAD = """Redistribution and use in source and binary forms, with or without modification, are permitted provided
that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this list of conditions and the
   following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice, this list of conditions and the
   following disclaimer in the documentation and/or other materials provided with the distribution.
"""
_BSD_3RD = """
3. Neither the name of the copyright holder nor the names of its contributors may be used to endorse or
   promote products derived from this software without specific prior written permission.
"""
_BSD_TAIL = """
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED
WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A
PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY
DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO,
PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR
OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""
BSD_2 = "BSD 2-Clause License\n\n" + _BSD_HEAD + _BSD_TAIL
BSD_3 = "BSD 3-Clause License\n\n" + _BSD_HEAD + _BSD_3RD + _BSD_TAIL

_ISC_TAIL = """THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE
INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE,
DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN
CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""
ISC = """ISC License

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby
granted, provided that the above copyright notice and this permission notice appear in all copies.

""" + _ISC_TAIL
ZERO_BSD = """Zero-Clause BSD

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby
granted.

""" + _ISC_TAIL

ZLIB = """zlib License

This software is provided 'as-is', without any express or implied warranty. In no event will the authors be
held liable for any damages arising from the use of this software.

Permission is granted to anyone to use this software for any purpose, including commercial applications, and to
alter it and redistribute it freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not claim that you wrote the original
   software. If you use this software in a product, an acknowledgment in the product documentation would be
   appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be misrepresented as being the
   original software.
3. This notice may not be removed or altered from any source distribution.
"""

UNLICENSE = """This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or distribute this software, either in source code
form or as a compiled binary, for any purpose, commercial or non-commercial, and by any means.

In jurisdictions that recognize copyright laws, the author or authors of this software dedicate any and all
copyright interest in the software to the public domain. We make this dedication for the benefit of the public
at large and to the detriment of our heirs and successors. We intend this dedication to be an overt act of
relinquishment in perpetuity of all present and future rights to this software under copyright law.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

For more information, please refer to <https://unlicense.org>
"""

BSL = """Boost Software License - Version 1.0 - August 17th, 2003

Permission is hereby granted, free of charge, to any person or organization obtaining a copy of the software
and accompanying documentation covered by this license (the "Software") to use, reproduce, display, distribute,
execute, and transmit the Software, and to prepare derivative works of the Software, and to permit third-parties
to whom the Software is furnished to do so, all subject to the following:

The copyright notices in the Software and this entire statement, including the above license grant, this
restriction and the following disclaimer, must be included in all copies of the Software, in whole or in part,
and all derivative works of the Software, unless such copies or derivative works are solely in the form of
machine-executable object code generated by a source language processor.
"""

APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.

      "License" shall mean the terms and conditions for use, reproduction, and distribution as defined by
      Sections 1 through 9 of this document.
   ...
   2. Grant of Copyright License. Subject to the terms and conditions of this License, each Contributor hereby
      grants to You a perpetual, worldwide, non-exclusive, no-charge, royalty-free, irrevocable copyright license
      to reproduce, prepare Derivative Works of, publicly display, publicly perform, sublicense, and distribute
      the Work and such Derivative Works in Source or Object form.
   ...
   END OF TERMS AND CONDITIONS
"""
APACHE_NOTICE = """Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in
compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the License is distributed
on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
"""
CC0 = """Creative Commons Legal Code

CC0 1.0 Universal

    CREATIVE COMMONS CORPORATION IS NOT A LAW FIRM AND DOES NOT PROVIDE LEGAL SERVICES. DISTRIBUTION OF THIS
    DOCUMENT DOES NOT CREATE AN ATTORNEY-CLIENT RELATIONSHIP.
Statement of Purpose

Certain owners wish to permanently relinquish those rights to a Work for the purpose of contributing to a commons
of creative, cultural and scientific works ("Commons") that the public can reliably and without fear of later
claims of infringement build upon, modify, incorporate in other works, reuse and redistribute as freely as
possible in any form whatsoever and for any purposes, including without limitation commercial purposes.

1. Copyright and Related Rights. A Work made available under CC0 may be protected by copyright and related or
neighboring rights ("Copyright and Related Rights").
"""
PSF = """PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2
--------------------------------------------

1. This LICENSE AGREEMENT is between the Python Software Foundation ("PSF"), and the Individual or Organization
("Licensee") accessing and otherwise using this software ("Python") in source or binary form and its associated
documentation.

2. Subject to the terms and conditions of this License Agreement, PSF hereby grants Licensee a nonexclusive,
royalty-free, world-wide license to reproduce, analyze, test, perform and/or display publicly, prepare derivative
works, distribute, and otherwise use Python alone or in any derivative version, provided, however, that PSF's
License Agreement and PSF's notice of copyright are retained in Python alone or in any derivative version.
"""

GPL_2 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 2, June 1991

 Copyright (C) 1989, 1991 Free Software Foundation, Inc.,
 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 Everyone is permitted to copy and distribute verbatim copies of this license document, but changing it is
 not allowed.

                            Preamble

  The licenses for most software are designed to take away your freedom to share and change it. By contrast,
the GNU General Public License is intended to guarantee your freedom to share and change free software.
                    TERMS AND CONDITIONS FOR COPYING, DISTRIBUTION AND MODIFICATION
"""
GPL_3 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Everyone is permitted to copy and distribute verbatim copies of this license document, but changing it is
 not allowed.

  The GNU General Public License is a free, copyleft license for software and other kinds of works.
  ...
  13. Use with the GNU Affero General Public License.
  ...
  The GNU General Public License does not permit incorporating your program into proprietary programs. If your
program is a subroutine library, you may consider it more useful to permit linking proprietary applications
with the library. If this is what you want to do, use the GNU Lesser General Public License instead of this
License.
"""
GPL_NOTICE = """This program is free software: you can redistribute it and/or modify it under the terms of the GNU
General Public License as published by the Free Software Foundation, either version 3 of the License, or (at
your option) any later version.

This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without even the
implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.
"""
AGPL = """                    GNU AFFERO GENERAL PUBLIC LICENSE
                       Version 3, 19 November 2007

  The GNU Affero General Public License is a free, copyleft license for software and other kinds of works,
specifically designed to ensure cooperation with the community in the case of network server software.
  13. Remote Network Interaction; Use with the GNU General Public License.
"""
LGPL_21 = """                  GNU LESSER GENERAL PUBLIC LICENSE
                       Version 2.1, February 1999

[This is the first released version of the Lesser GPL.  It also counts as the successor of the GNU Library
Public License, version 2, hence the version number 2.1.]
"""
LGPL_3 = """                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

  This version of the GNU Lesser General Public License incorporates the terms and conditions of version 3 of
the GNU General Public License, supplemented by the additional permissions listed below.
"""
MPL = """Mozilla Public License Version 2.0
==================================

1. Definitions
--------------
1.12. "Secondary License" means either the GNU General Public License, Version 2.0, the GNU Lesser General
Public License, Version 2.1, the GNU Affero General Public License, Version 3.0, or any later versions of those
licenses.
"""
EPL = """Eclipse Public License - v 2.0

    THE ACCOMPANYING PROGRAM IS PROVIDED UNDER THE TERMS OF THIS ECLIPSE PUBLIC LICENSE ("AGREEMENT"). ANY USE,
    REPRODUCTION OR DISTRIBUTION OF THE PROGRAM CONSTITUTES RECIPIENT'S ACCEPTANCE OF THIS AGREEMENT.
"""
PROPRIETARY = """Copyright (c) 2021 Acme Corp. All rights reserved.

This software is proprietary and confidential. Unauthorized copying of this file, via any medium, is strictly
prohibited.
"""
PROPRIETARY_2 = """ACME SOFTWARE LICENSE AGREEMENT

All rights reserved. No part of this software may be reproduced, distributed, or transmitted in any form without
the express written permission of Acme Inc.
"""
# MIT's grant with a non-commercial restriction added: looks permissive, is not.
MIT_NONCOMMERCIAL = MIT.replace("subject to the following conditions:",
                                "subject to the following conditions:\n\nThe Software may not be used for commercial purposes.\n")
CC_BY_NC_SA = """Attribution-NonCommercial-ShareAlike 4.0 International

Creative Commons Corporation ("Creative Commons") is not a law firm. You may not use the material for
NonCommercial purposes.
"""

APACHE_COMMONS_CLAUSE = APACHE_NOTICE + """
"Commons Clause" License Condition v1.0

The Software is provided to you by the Licensor under the License, as defined below, subject to the following
condition. Without limiting other conditions in the License, the grant of rights under the License will not
include, and the License does not grant to you, the right to Sell the Software.
"""
APACHE_NONCOMMERCIAL = APACHE + "\nAdditional condition: the Work may be used for non-commercial purposes only.\n"

PERMISSIVE = {"MIT": MIT, "BSD-2-Clause": BSD_2, "BSD-3-Clause": BSD_3, "ISC": ISC, "0BSD": ZERO_BSD, "Zlib": ZLIB,
              "Unlicense": UNLICENSE, "BSL-1.0": BSL, "Apache-2.0": APACHE, "Apache-2.0#notice": APACHE_NOTICE,
              "CC0-1.0": CC0, "PSF-2.0": PSF}
NON_PERMISSIVE = {"GPL-2.0-only": GPL_2, "GPL-3.0-only": GPL_3, "GPL-3.0-or-later": GPL_NOTICE, "AGPL-3.0-only": AGPL,
                  "LGPL-2.1-only": LGPL_21, "LGPL-3.0-only": LGPL_3, "MPL-2.0": MPL, "EPL-2.0": EPL,
                  "LicenseRef-proprietary": PROPRIETARY, "LicenseRef-proprietary#2": PROPRIETARY_2,
                  "MIT+noncommercial": MIT_NONCOMMERCIAL, "CC-BY-NC-SA-4.0": CC_BY_NC_SA,
                  "Apache-2.0+Commons-Clause": APACHE_COMMONS_CLAUSE, "Apache-2.0+noncommercial": APACHE_NONCOMMERCIAL}


def variations(text: str) -> dict[str, str]:
    """The text as found in the wild: plain, with copyright lines, re-wrapped, as Markdown, with a preamble."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    rewrapped = "\n\n".join(textwrap.fill(" ".join(p.split()), 57) for p in paragraphs)
    markdown = f"# {paragraphs[0].strip()}\n\n" + "\n\n".join(
        f"* **{' '.join(p.split())}**" if i % 2 else " ".join(p.split()) for i, p in enumerate(paragraphs[1:]))
    return {
        "plain": text,
        "copyright": "Copyright (c) 2019-2023 Jane Doe <jane@example.org>\nCopyright 2024 The Foo Authors\n\n" + text,
        "rewrapped": rewrapped,
        "markdown": markdown,
        "preamble": "The code in this repository is released under the licence below. See also CONTRIBUTING.md.\n\n"
                    "---\n\n" + text,
    }
